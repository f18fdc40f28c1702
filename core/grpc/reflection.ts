// gRPC server reflection, v1 and v1alpha (SPEC 10), answering from the descriptor set that
// `npm run build` compiles from the real .proto files (scripts/build-descriptors.mjs): each
// file under its own name with its dependencies and its comments, the cm.v1 services, the
// standard health service and reflection itself. (@grpc/reflection merges the files of a
// package into one made-up file, which buf curl and grpcurl cannot resolve by name.)

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { PROTO_ROOT } from '../../proto/load.js';

const require = createRequire(import.meta.url);

export const DESCRIPTOR_SET_FILE = join(PROTO_ROOT, 'gen', 'descriptors.binpb');

interface FileEntry {
  /** The FileDescriptorProto exactly as compiled. */
  bytes: Uint8Array;
  dependencies: string[];
}

interface DescriptorLike {
  name?: string;
  nestedType?: DescriptorLike[];
  enumType?: DescriptorLike[];
  method?: DescriptorLike[];
}

/** The compiled files, indexed by name and by the fully qualified symbols they declare. */
export class DescriptorIndex {
  readonly files = new Map<string, FileEntry>();
  readonly symbols = new Map<string, string>();
  readonly services: string[] = [];
  readonly messages = new Set<string>();

  constructor(set: Uint8Array) {
    // A FileDescriptorSet is `repeated FileDescriptorProto file = 1`: each file's bytes are kept
    // as they are, so nothing (comments included) is lost to a decode and re-encode.
    const reader = protobuf.Reader.create(set);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 !== 1 || (tag & 7) !== 2) {
        reader.skipType(tag & 7);
        continue;
      }
      const bytes = reader.bytes();
      const file = descriptor.FileDescriptorProto.decode(bytes) as unknown as {
        name: string;
        package?: string;
        dependency?: string[];
        messageType?: DescriptorLike[];
        enumType?: DescriptorLike[];
        service?: DescriptorLike[];
      };
      this.files.set(file.name, { bytes, dependencies: file.dependency ?? [] });
      const prefix = file.package ? `${file.package}.` : '';
      const add = (fqn: string) => this.symbols.set(fqn, file.name);
      const addMessages = (scope: string, messages: DescriptorLike[] = [], enums: DescriptorLike[] = []) => {
        for (const m of messages) {
          add(`${scope}${m.name}`);
          this.messages.add(`${scope}${m.name}`);
          addMessages(`${scope}${m.name}.`, m.nestedType, m.enumType);
        }
        for (const e of enums) add(`${scope}${e.name}`);
      };
      addMessages(prefix, file.messageType, file.enumType);
      for (const service of file.service ?? []) {
        const fqn = `${prefix}${service.name}`;
        add(fqn);
        this.services.push(fqn);
        for (const method of service.method ?? []) add(`${fqn}.${method.name}`);
      }
    }
  }

  /** The file first, then every file it depends on, transitively, each once. */
  withDependencies(name: string): Uint8Array[] {
    const seen = new Set<string>();
    const order: Uint8Array[] = [];
    const visit = (file: string) => {
      const entry = this.files.get(file);
      if (!entry || seen.has(file)) return;
      seen.add(file);
      order.push(entry.bytes);
      entry.dependencies.forEach(visit);
    };
    visit(name);
    return order;
  }
}

let cachedIndex: DescriptorIndex | undefined;

export function loadDescriptorIndex(): DescriptorIndex {
  cachedIndex ??= new DescriptorIndex(readFileSync(DESCRIPTOR_SET_FILE));
  return cachedIndex;
}

interface ReflectionRequest {
  host?: string;
  message_request?: 'file_by_filename' | 'file_containing_symbol' | 'file_containing_extension' | 'all_extension_numbers_of_type' | 'list_services';
  file_by_filename?: string;
  file_containing_symbol?: string;
  all_extension_numbers_of_type?: string;
  file_containing_extension?: { containing_type?: string; extension_number?: number };
}

const NOT_FOUND = grpc.status.NOT_FOUND;

/** One answer of ServerReflectionInfo; the same for v1 and v1alpha, whose messages are alike. */
export function answerReflection(index: DescriptorIndex, request: ReflectionRequest): Record<string, unknown> {
  const base = { valid_host: request.host ?? '', original_request: request };
  const files = (name: string | undefined) => ({ ...base, file_descriptor_response: { file_descriptor_proto: index.withDependencies(name!) } });
  const notFound = (what: string) => ({ ...base, error_response: { error_code: NOT_FOUND, error_message: `${what} not found` } });
  switch (request.message_request) {
    case 'list_services':
      return { ...base, list_services_response: { service: index.services.map((name) => ({ name })) } };
    case 'file_by_filename':
      return index.files.has(request.file_by_filename ?? '') ? files(request.file_by_filename) : notFound(`file ${request.file_by_filename}`);
    case 'file_containing_symbol': {
      const symbol = (request.file_containing_symbol ?? '').replace(/^\./, '');
      const file = index.symbols.get(symbol);
      return file ? files(file) : notFound(`symbol ${symbol}`);
    }
    case 'all_extension_numbers_of_type': {
      const type = (request.all_extension_numbers_of_type ?? '').replace(/^\./, '');
      // No file declares extensions: a known message has none, an unknown one is not found.
      return index.messages.has(type) ? { ...base, all_extension_numbers_response: { base_type_name: type, extension_number: [] } } : notFound(`type ${type}`);
    }
    case 'file_containing_extension':
      return notFound(`extension ${request.file_containing_extension?.extension_number ?? ''} of ${request.file_containing_extension?.containing_type ?? ''}`);
    default:
      return { ...base, error_response: { error_code: grpc.status.UNIMPLEMENTED, error_message: 'unknown reflection request' } };
  }
}

/** Adds grpc.reflection.v1 and v1alpha ServerReflection to `server`. */
export function addReflection(server: grpc.Server, index: DescriptorIndex = loadDescriptorIndex()): void {
  const protoDir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
  for (const version of ['v1', 'v1alpha'] as const) {
    const definition = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, { includeDirs: [protoDir], keepCase: true, oneofs: true, longs: Number, enums: Number });
    const service = (grpc.loadPackageDefinition(definition) as any).grpc.reflection[version].ServerReflection.service as grpc.ServiceDefinition;
    server.addService(service, {
      ServerReflectionInfo: (stream: grpc.ServerDuplexStream<ReflectionRequest, Record<string, unknown>>) => {
        stream.on('data', (request: ReflectionRequest) => stream.write(answerReflection(index, request)));
        stream.on('end', () => stream.end());
        stream.on('error', () => stream.end());
      },
    });
  }
}
