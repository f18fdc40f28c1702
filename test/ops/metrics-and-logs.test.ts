// Metrics for every tier (SPEC 11) and the core's per-RPC log line: a core run on its own serves
// its metrics on CM_METRICS_HOST:CM_METRICS_PORT; the embedded default shows the core's on the
// gateway's /metrics; Prometheus's own linter (`promtool check metrics`, Debian's prometheus
// package, which .ci/run installs) accepts both; direct gRPC callers leave one debug line per call.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { ADMIN, JWT_SECRET, makeClients, metadataFor, mintToken, rpc, startTestCore, testEnv } from '../support/core-harness.js';
import { run } from '../support/process.js';

function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is needed (apt-get install prometheus; .ci/run does): ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The value of one sample, e.g. value(text, 'x_total{code="OK"}'). */
function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

t.test('a core on its own: /metrics on CM_METRICS_PORT, promtool-clean; one debug line per RPC, no secret', async (t) => {
  // The CA made by an embedded start, then given to the separate core as files.
  const seed = await startTestCore();
  const dir = seed.dir;
  await seed.core.close();
  const env = { ...testEnv(dir), CM_CA_CERT: join(dir, 'ca.crt'), CM_CA_KEY: join(dir, 'ca.key'), CM_METRICS_PORT: '0', CM_LOG_LEVEL: 'debug', CM_HEAP_GROWING_PERCENT: '150' };
  const core = run(process.execPath, ['dist/bin/core.js'], env);
  t.teardown(() => void core.child.kill('SIGKILL'));
  const [, metricsPort] = await core.waitFor(/"port":(\d+),"msg":"metrics listening"/);
  const [, grpcPort] = await core.waitFor(/"port":(\d+),"keyVersion".*"msg":"core listening"/);
  await core.waitFor(/"heapGrowingPercent":150,"msg":"core listening"/);
  const clients = makeClients(`127.0.0.1:${grpcPort}`);
  t.teardown(() => Object.values(clients).forEach((c) => c.close()));

  const token = await mintToken(ADMIN);
  await rpc(clients.templates, 'CreateProfileTemplate', { template: { name: 'Metered' } }, token);
  await rpc(clients.templates, 'ListProfileTemplates', {}, token);
  await t.rejects(rpc(clients.templates, 'ListProfileTemplates', {}), { code: grpc.status.UNAUTHENTICATED });
  await t.rejects(rpc(clients.templates, 'GetProfileTemplate', { uuid: '00000000-0000-4000-8000-000000000000' }, token), { code: grpc.status.NOT_FOUND });
  const correlated = await new Promise((resolve) =>
    clients.templates.GetProfileTemplate({ uuid: 'not-a-guid' }, metadataFor(token, 'trace-me-42'), (err: unknown) => resolve(err)),
  );
  t.ok(correlated);

  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  t.equal(response.status, 200);
  t.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  const lint = promtool(text);
  t.equal(lint.status, 0, `promtool check metrics: ${lint.output}`);
  const svc = 'service="cm.v1.ProfileTemplateService"';
  t.equal(value(text, `cm_core_grpc_requests_total{${svc},method="ListProfileTemplates",code="OK"}`), 1);
  t.equal(value(text, `cm_core_grpc_requests_total{${svc},method="ListProfileTemplates",code="UNAUTHENTICATED"}`), 1);
  t.equal(value(text, `cm_core_grpc_requests_total{${svc},method="CreateProfileTemplate",code="OK"}`), 1);
  t.equal(value(text, `cm_core_grpc_request_duration_seconds_count{${svc},method="CreateProfileTemplate",code="OK"}`), 1);
  t.equal(value(text, 'cm_core_refusals_total{code="UNAUTHENTICATED"}'), 1);
  t.equal(value(text, 'cm_core_refusals_total{code="NOT_FOUND"}'), 1);
  t.equal(value(text, 'cm_core_rate_limit_refusals_total'), 0);
  t.ok(value(text, 'cm_core_audit_rows_total')! >= 1, 'audit rows written');
  t.ok(value(text, 'cm_core_db_transaction_duration_seconds_count')! >= 1, 'transactions timed');
  t.ok(value(text, 'cm_core_db_group_commit_units_count')! >= 1, 'group commits sized');
  t.equal(value(text, 'cm_core_db_transaction_errors_total'), 0);
  t.equal(value(text, 'cm_core_pool_queue_length'), 0);
  t.equal(value(text, 'cm_core_pool_threads'), 1);
  t.ok(value(text, 'cm_core_pool_utilization_ratio')! >= 0);
  t.ok(value(text, 'cm_core_process_cpu_seconds_total')! > 0, 'the process defaults, prefixed');
  t.notMatch(text, /Metered|not-a-guid|trace-me-42/, 'no request value in a label');
  t.equal((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status, 404);

  const lines = core.stdout().split('\n').filter((l) => l.includes('"msg":"rpc"')).map((l) => JSON.parse(l));
  t.equal(lines.length, 5, 'one line per RPC');
  t.ok(lines.every((l) => l.level === 20), 'at debug level');
  t.match(lines[0], { method: '/cm.v1.ProfileTemplateService/CreateProfileTemplate', status: 'OK', caller: ADMIN.sub, correlationId: /^[0-9a-f-]{36}$/ });
  t.ok(lines.every((l) => typeof l.durationMs === 'number'));
  t.match(lines[2], { method: '/cm.v1.ProfileTemplateService/ListProfileTemplates', status: 'UNAUTHENTICATED' });
  t.notOk(lines[2].caller, 'no caller when the token is missing');
  t.match(lines[4], { status: 'INVALID_ARGUMENT', correlationId: 'trace-me-42' });
  t.notMatch(core.stdout(), token.split('.')[2]!, 'the token never reaches the log');
  t.notMatch(core.stdout(), JWT_SECRET);
  core.child.kill('SIGTERM');
  t.equal(await core.exited, 0);
});

t.test('the embedded default: the gateway\'s /metrics shows the core\'s too, promtool-clean', async (t) => {
  const dir = execFileSync('mktemp', ['-d'], { encoding: 'utf8' }).trim();
  const service = run(process.execPath, ['dist/bin/embedded.js'], { CM_DATABASE: join(dir, 'cm.sqlite'), CM_HTTP_PORT: '0', CM_GRPC_PORT: '0', CM_WORKERS: '1', CM_JWT_SECRET: JWT_SECRET });
  t.teardown(() => void service.child.kill('SIGKILL'));
  const [, url] = await service.waitFor(/"url":"(http:\/\/[^"]+)"/);
  const token = await mintToken(ADMIN);
  const api = `${url}/CertificateManagement/api/v1.0`;
  t.equal((await fetch(`${api}/profiletemplates`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  t.equal((await fetch(`${api}/profiletemplates`)).status, 401);
  const text = await (await fetch(`${url}/metrics`)).text();
  const lint = promtool(text);
  t.equal(lint.status, 0, `promtool check metrics: ${lint.output}`);
  t.equal(value(text, 'cm_gateway_http_requests_total{method="GET",route="/CertificateManagement/api/v1.0/profiletemplates",status="200"}'), 1);
  t.equal(value(text, 'cm_core_grpc_requests_total{service="cm.v1.ProfileTemplateService",method="ListProfileTemplates",code="OK"}'), 1);
  t.equal(value(text, 'cm_gateway_rate_limit_refusals_total'), 0);
  t.ok(value(text, 'cm_gateway_process_cpu_seconds_total')! > 0);
  service.child.kill('SIGTERM');
  t.equal(await service.exited, 0);
});

t.test('promtool is a real check: it rejects what breaks the naming rules', async (t) => {
  const bad = '# HELP x_seconds_total a gauge named like a counter\n# TYPE x_seconds_total gauge\nx_seconds_total 1\n';
  t.not(promtool(bad).status, 0);
});
