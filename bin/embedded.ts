// `npm start`: the embedded default of SPEC 11. The core and the gateway in one process over
// loopback gRPC, SQLite at CM_DATABASE, and whatever is not configured (token secret, key ring,
// CA) generated in the database's folder. When it generated the token secret itself, it prints
// an administrator token and example commands on the console (never into the log stream).

import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { startCore, type RunningCore } from '../core/app.js';
import { ConfigError, loadCoreConfig, type CoreConfig } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { loadGatewayConfig, type GatewayConfig } from '../gateway/config.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import { closeOnSignals, exitOnStartFailure } from './lifecycle.js';

const DEV_TOKEN_LIFETIME = '12h';

async function devAdminToken(secret: string, adminGroup: string): Promise<string> {
  return new SignJWT({ name: 'Embedded administrator', groups: [adminGroup] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(randomUUID())
    .setIssuedAt()
    .setExpirationTime(DEV_TOKEN_LIFETIME)
    .sign(Buffer.from(secret, 'utf8'));
}

function printWelcome(url: string, token: string): void {
  const api = `${url}/CertificateManagement/api/v1.0`;
  const template = JSON.stringify({
    Name: 'Demo smart card',
    Policies: { Enroll: { Enabled: true, SelfServiceEnabled: true } },
    SmartcardConfiguration: { DiversifyAdminKey: true, UserPinOption: 'ServerDistributed' },
    CertificateTemplates: [{ TemplateCommonName: 'SmartcardLogon' }],
  });
  process.stdout.write(
    [
      '',
      `Smart card management service: ${url} (OpenAPI page: ${url}/docs)`,
      `Development administrator token (valid ${DEV_TOKEN_LIFETIME}; generated because CM_JWT_SECRET is not set):`,
      '',
      `  ${token}`,
      '',
      'Try:',
      `  curl -s ${url}/readyz`,
      `  curl -s -X POST -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' -d '${template}' ${api}/profiletemplates`,
      `  curl -s -H 'Authorization: Bearer ${token}' ${api}/profiletemplates`,
      '',
    ].join('\n'),
  );
}

/**
 * Both halves' configurations, checked before anything is created on disk; every problem of
 * either is reported at once. The gateway calls the core in this process, wherever it listens.
 */
function loadConfigs(env: NodeJS.ProcessEnv): { coreConfig: CoreConfig; gatewayConfig: GatewayConfig } {
  const errors: ConfigError[] = [];
  const attempt = <T>(load: () => T): T | undefined => {
    try {
      return load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(err);
      return undefined;
    }
  };
  const coreConfig = attempt(() => loadCoreConfig(env, { embedded: true }));
  const gatewayConfig = attempt(() => loadGatewayConfig({ ...env, CM_CORE_ADDRESS: undefined }));
  if (!coreConfig || !gatewayConfig) throw ConfigError.combine(errors);
  return { coreConfig, gatewayConfig };
}

async function main(): Promise<void> {
  const { coreConfig, gatewayConfig } = loadConfigs(process.env);
  const log = createLogger(coreConfig.logLevel, 'cm');
  const core: RunningCore = await startCore(coreConfig, { log, embedded: true });
  let gateway: RunningGateway;
  try {
    const host = coreConfig.grpcHost.includes(':') ? `[${coreConfig.grpcHost}]` : coreConfig.grpcHost;
    gateway = await startGateway({ ...gatewayConfig, coreAddress: `${host}:${core.port}` }, { logger: log, coreMetrics: core.metrics.registry });
  } catch (err) {
    await core.close();
    throw err;
  }
  if (core.generatedJwtSecret) printWelcome(gateway.url, await devAdminToken(core.generatedJwtSecret, coreConfig.adminGroup));

  closeOnSignals(log, () => gateway.close().then(() => core.close()));
}

main().catch(exitOnStartFailure('cm'));
