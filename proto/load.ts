// Loads the cm.v1 contract for grpc-js, on both sides of the wire. The options here must
// match the flags of `npm run gen:proto` so that the generated types describe what arrives:
// camelCase fields, enums as numbers, int64 as numbers, defaults filled in, oneof names set.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as AuditProto } from './gen/audit.js';
import type { ProtoGrpcType as CertificatesProto } from './gen/certificates.js';
import type { ProtoGrpcType as ProfileTemplatesProto } from './gen/profile_templates.js';
import type { ProtoGrpcType as RequestsProto } from './gen/requests.js';
import type { ProtoGrpcType as SmartcardsProto } from './gen/smartcards.js';

export type CmProto = AuditProto & CertificatesProto & ProfileTemplatesProto & RequestsProto & SmartcardsProto;

/** The folder that holds `cm/v1/*.proto`, whether we run from sources or from `dist/`. */
export const PROTO_ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../proto/' : './', import.meta.url));

export const PROTO_FILES = [
  'cm/v1/common.proto',
  'cm/v1/profile_templates.proto',
  'cm/v1/requests.proto',
  'cm/v1/smartcards.proto',
  'cm/v1/certificates.proto',
  'cm/v1/audit.proto',
];

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: Number,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

let cached: { definition: protoLoader.PackageDefinition; proto: CmProto } | undefined;

export function loadCmProto(): { definition: protoLoader.PackageDefinition; proto: CmProto } {
  if (!cached) {
    const definition = protoLoader.loadSync(PROTO_FILES, LOADER_OPTIONS);
    const proto = grpc.loadPackageDefinition(definition) as unknown as CmProto;
    cached = { definition, proto };
  }
  return cached;
}
