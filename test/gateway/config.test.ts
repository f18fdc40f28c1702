// loadGatewayConfig and the core address syntax: defaults, every variable, and a clear error
// naming the variable for each bad value.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, isLoopbackHost, loadGatewayConfig } from '../../gateway/config.js';
import { resolveCoreTarget } from '../../gateway/core-client.js';

t.test('defaults', async (t) => {
  const config = loadGatewayConfig({});
  t.same(config, {
    httpHost: '127.0.0.1',
    httpPort: 8080,
    coreAddress: '127.0.0.1:50051',
    tls: undefined,
    logLevel: 'info',
    allowInsecure: false,
    publicUrl: 'http://127.0.0.1:8080',
    coreDeadlineMs: 10_000,
    heapGrowingPercent: undefined,
  });
});

t.test('every variable', async (t) => {
  const folder = mkdtempSync(join(tmpdir(), 'cm-gateway-config-'));
  for (const name of ['cert.pem', 'key.pem', 'ca.pem']) writeFileSync(join(folder, name), name);
  const config = loadGatewayConfig({
    CM_HTTP_HOST: '0.0.0.0',
    CM_HTTP_PORT: '9443',
    CM_CORE_ADDRESS: '10.0.0.1:50051,10.0.0.2:50051',
    CM_TLS_CERT: join(folder, 'cert.pem'),
    CM_TLS_KEY: join(folder, 'key.pem'),
    CM_TLS_CA: join(folder, 'ca.pem'),
    CM_LOG_LEVEL: 'DEBUG',
    CM_PUBLIC_URL: 'https://cm.example.org/',
    CM_HEAP_GROWING_PERCENT: '0',
  });
  t.equal(config.httpHost, '0.0.0.0');
  t.equal(config.httpPort, 9443);
  t.equal(config.coreAddress, '10.0.0.1:50051,10.0.0.2:50051');
  t.equal(config.tls?.cert.toString(), 'cert.pem');
  t.equal(config.tls?.key.toString(), 'key.pem');
  t.equal(config.tls?.ca?.toString(), 'ca.pem');
  t.equal(config.logLevel, 'debug');
  t.equal(config.publicUrl, 'https://cm.example.org');
  t.equal(config.heapGrowingPercent, 0, '0: nothing set');
  t.equal(loadGatewayConfig({ CM_HTTP_HOST: '::1', CM_HTTP_PORT: '0' }).publicUrl, 'http://[::1]:0');
});

t.test('a non-loopback listener without TLS is refused unless CM_ALLOW_INSECURE=1', async (t) => {
  t.throws(() => loadGatewayConfig({ CM_HTTP_HOST: '0.0.0.0' }), { name: 'ConfigError', variable: 'CM_HTTP_HOST', message: /CM_ALLOW_INSECURE/ });
  t.equal(loadGatewayConfig({ CM_HTTP_HOST: '0.0.0.0', CM_ALLOW_INSECURE: '1' }).allowInsecure, true);
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) t.ok(isLoopbackHost(host), host);
  for (const host of ['0.0.0.0', '10.0.0.1', '::', 'cm.example.org']) t.notOk(isLoopbackHost(host), host);
});

t.test('bad values name their variable', async (t) => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ CM_HTTP_PORT: 'http' }, 'CM_HTTP_PORT', /not a port/],
    [{ CM_HTTP_PORT: '70000' }, 'CM_HTTP_PORT', /not a port/],
    [{ CM_HTTP_HOST: 'bad host!' }, 'CM_HTTP_HOST', /neither an IP address nor a host name/],
    [{ CM_CORE_ADDRESS: 'core' }, 'CM_CORE_ADDRESS', /not host:port/],
    [{ CM_CORE_ADDRESS: 'a:1,b:2' }, 'CM_CORE_ADDRESS', /must be an IP address/],
    [{ CM_CORE_ADDRESS: '10.0.0.1:1,[::1]:2' }, 'CM_CORE_ADDRESS', /only IPv4 or only IPv6/],
    [{ CM_TLS_CERT: '/nonexistent/cert.pem' }, 'CM_TLS_CERT', /cannot read/],
    [{ CM_LOG_LEVEL: 'loud' }, 'CM_LOG_LEVEL', /not one of/],
    [{ CM_LOG_LEVEL: 'Debug,info' }, 'CM_LOG_LEVEL', /not one of/],
    [{ CM_ALLOW_INSECURE: 'maybe' }, 'CM_ALLOW_INSECURE', /not a flag/],
    [{ CM_PUBLIC_URL: 'not a url' }, 'CM_PUBLIC_URL', /not a URL/],
    [{ CM_PUBLIC_URL: 'ftp://cm' }, 'CM_PUBLIC_URL', /http or https/],
    [{ CM_HEAP_GROWING_PERCENT: '1001' }, 'CM_HEAP_GROWING_PERCENT', /whole number from 0 to 1000/],
    [{ CM_HEAP_GROWING_PERCENT: '-5' }, 'CM_HEAP_GROWING_PERCENT', /whole number from 0 to 1000/],
  ];
  for (const [env, variable, message] of cases) {
    t.throws(() => loadGatewayConfig(env), { variable, message }, JSON.stringify(env));
    try {
      loadGatewayConfig(env);
    } catch (error) {
      t.ok(error instanceof ConfigError && error.message.startsWith(`${variable}: `), 'the message starts with the variable');
    }
  }
  const folder = mkdtempSync(join(tmpdir(), 'cm-gateway-config-'));
  writeFileSync(join(folder, 'x.pem'), 'x');
  t.throws(() => loadGatewayConfig({ CM_TLS_CERT: join(folder, 'x.pem') }), { variable: 'CM_TLS_KEY', message: /required/ });
  t.throws(() => loadGatewayConfig({ CM_TLS_KEY: join(folder, 'x.pem') }), { variable: 'CM_TLS_CERT', message: /required/ });
  t.throws(() => loadGatewayConfig({ CM_TLS_CA: join(folder, 'x.pem') }), { variable: 'CM_TLS_CA', message: /needs/ });
});

t.test('all problems at once, in one error', async (t) => {
  const err = t.throws(() => loadGatewayConfig({ CM_HTTP_PORT: 'x', CM_LOG_LEVEL: 'loud', CM_CORE_ADDRESS: 'core' })) as ConfigError;
  t.same(err.problems.map((p) => p.variable), ['CM_HTTP_PORT', 'CM_CORE_ADDRESS', 'CM_LOG_LEVEL'], 'in the order of the schema');
  t.same(ConfigError.combine([err, new ConfigError('CM_X', 'bad')]).problems.length, 4);
});

t.test('core addresses become grpc-js targets', async (t) => {
  t.same(resolveCoreTarget('127.0.0.1:50051'), { target: '127.0.0.1:50051', loadBalancing: 'pick_first' });
  t.same(resolveCoreTarget('core.internal:50051'), { target: 'core.internal:50051', loadBalancing: 'pick_first' });
  t.same(resolveCoreTarget('10.0.0.1:50051, 10.0.0.2:50052'), { target: 'ipv4:10.0.0.1:50051,10.0.0.2:50052', loadBalancing: 'round_robin' });
  t.same(resolveCoreTarget('[::1]:50051,[fe80::1]:50051'), { target: 'ipv6:[::1]:50051,[fe80::1]:50051', loadBalancing: 'round_robin' });
  t.same(resolveCoreTarget('dns:///core.internal:50051'), { target: 'dns:///core.internal:50051', loadBalancing: 'round_robin' });
  t.same(resolveCoreTarget('unix:/run/cm/core.sock'), { target: 'unix:/run/cm/core.sock', loadBalancing: 'pick_first' });
  t.throws(() => resolveCoreTarget(''), /empty/);
  t.throws(() => resolveCoreTarget('dns:'), /names no host/);
  t.throws(() => resolveCoreTarget('core:0'), /not host:port/);
});
