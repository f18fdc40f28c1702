// One thread's door to a PKCS#11 token (SPEC 13): HMAC-SHA256 with a secret key, signing with a
// private key, creating and generating secret keys, all found by label. Each thread that uses the
// token opens its own Pkcs11Token (its own session), and every call here is synchronous, so a
// session never carries two operations at once. The library is initialised with
// CKF_OS_LOCKING_OK because several threads of one process share it.
//
// A session lost at run time (closed, logged out, token removed) fails the call with
// UNAVAILABLE and is dropped; the next call opens and logs in a new one by itself.
//
// Sessions are lost together: the login state belongs to the application, not to a session, so a
// login that succeeds outright (rather than CKR_USER_ALREADY_LOGGED_IN) proves that no session of
// this process was still logged in, and every handle opened before it is stale. So such a login
// bumps a counter shared by all the threads (the session epoch), and a thread whose session is
// older than the counter forgets that handle and opens a session of its own before its next
// operation, instead of failing one more call with it. It does not close the old handle: PKCS#11
// lets a library give a closed handle's number to the next session it opens (SoftHSM2 counts up,
// others need not), and that number may be another thread's session by now.
//
// pkcs11js is an optional dependency (it compiles from source): it is loaded only when a token is
// configured, and its types are declared here so that the build needs no copy of it.
import { createRequire } from 'node:module';
import { CryptoError } from './admin-key.js';

/** Where the token is: the PKCS#11 library, the token's label and the user PIN. */
export interface TokenConfig {
  module: string;
  tokenLabel: string;
  pin: string;
}

export type TokenErrorCode = 'TOKEN_UNAVAILABLE' | 'TOKEN_LOGIN_FAILED' | 'TOKEN_KEY_MISSING' | 'TOKEN_FAILED';

/** Start-up and administration errors; at run time callers see CryptoError('UNAVAILABLE'). */
export class TokenError extends Error {
  readonly code: TokenErrorCode;
  constructor(code: TokenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenError';
    this.code = code;
  }
}

// The few PKCS#11 v2.40 numbers used here.
const CKF_RW_SESSION = 0x2;
const CKF_SERIAL_SESSION = 0x4;
const CKF_OS_LOCKING_OK = 0x2;
const CKU_USER = 1;
const CKO_PRIVATE_KEY = 3;
const CKO_SECRET_KEY = 4;
const CKK_RSA = 0x0;
const CKK_EC = 0x3;
const CKK_GENERIC_SECRET = 0x10;
const CKA_CLASS = 0x0;
const CKA_TOKEN = 0x1;
const CKA_PRIVATE = 0x2;
const CKA_LABEL = 0x3;
const CKA_VALUE = 0x11;
const CKA_ID = 0x102;
const CKA_KEY_TYPE = 0x100;
const CKA_SENSITIVE = 0x103;
const CKA_SIGN = 0x108;
const CKA_VERIFY = 0x10a;
const CKA_VALUE_LEN = 0x161;
const CKA_EXTRACTABLE = 0x162;
const CKM_SHA256_RSA_PKCS = 0x40;
const CKM_ECDSA = 0x1041;
const CKM_SHA256_HMAC = 0x251;
const CKM_GENERIC_SECRET_KEY_GEN = 0x350;
const CKR_USER_ALREADY_LOGGED_IN = 0x100;
const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
const CKR_PIN_INCORRECT = 0xa0;
const CKR_PIN_LOCKED = 0xa4;

// Return values that mean the session (or the token under it) is gone, not that the call was bad.
const SESSION_LOST = new Set([
  0x30, // CKR_DEVICE_ERROR
  0x31, // CKR_DEVICE_MEMORY
  0x32, // CKR_DEVICE_REMOVED
  0x60, // CKR_KEY_HANDLE_INVALID (the object went with the session's login)
  0x82, // CKR_OBJECT_HANDLE_INVALID
  0xb0, // CKR_SESSION_CLOSED
  0xb3, // CKR_SESSION_HANDLE_INVALID
  0xe0, // CKR_TOKEN_NOT_PRESENT
  0x101, // CKR_USER_NOT_LOGGED_IN
  0x190, // CKR_CRYPTOKI_NOT_INITIALIZED
]);

type Handle = Buffer;
interface Attribute {
  type: number;
  value?: number | boolean | string | Buffer;
}
interface Pkcs11Library {
  load(path: string): void;
  C_Initialize(options?: { flags?: number }): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): { label: string };
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_CloseAllSessions(slot: Handle): void;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_Logout(session: Handle): void;
  C_FindObjectsInit(session: Handle, template: Attribute[]): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Attribute[]): Array<{ type: number; value?: Buffer }>;
  C_CreateObject(session: Handle, template: Attribute[]): Handle;
  C_DestroyObject(session: Handle, object: Handle): void;
  C_GenerateKey(session: Handle, mechanism: { mechanism: number }, template: Attribute[]): Handle;
  C_SignInit(session: Handle, mechanism: { mechanism: number }, key: Handle): void;
  C_Sign(session: Handle, inData: Buffer, outData: Buffer): Buffer;
}
interface Pkcs11Module {
  PKCS11: new () => Pkcs11Library;
}

function pkcs11Code(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

let loadedModule: Pkcs11Module | undefined;

function pkcs11js(): Pkcs11Module {
  if (!loadedModule) {
    try {
      loadedModule = createRequire(import.meta.url)('pkcs11js') as Pkcs11Module;
    } catch (err) {
      throw new TokenError(
        'TOKEN_UNAVAILABLE',
        'CM_PKCS11_MODULE is set but the optional package pkcs11js is not installed (it builds with a C++ compiler at npm install)',
        { cause: err },
      );
    }
  }
  return loadedModule;
}

export type SignatureMechanism = 'RSA-SHA256' | 'ECDSA';

// The session epoch, one per process: the main thread's, handed to the pool threads with their
// workerData (a SharedArrayBuffer is shared, not copied).
let sessionEpoch: Int32Array = new Int32Array(new SharedArrayBuffer(4));

/** This process's session epoch, for the threads the main thread starts. */
export function tokenSessionEpoch(): Int32Array {
  return sessionEpoch;
}

/** In a thread the main thread started: use the process's epoch instead of a thread-local one. */
export function shareTokenSessionEpoch(shared: Int32Array): void {
  sessionEpoch = shared;
}

export class Pkcs11Token {
  readonly #config: TokenConfig;
  readonly #lib: Pkcs11Library;
  readonly #slot: Handle;
  #session: Handle | undefined;
  // The session epoch when #session was opened.
  #epoch = 0;
  // Object handles are valid for the session that found them: cleared with it.
  readonly #handles = new Map<string, Handle>();

  private constructor(config: TokenConfig, lib: Pkcs11Library, slot: Handle) {
    this.#config = config;
    this.#lib = lib;
    this.#slot = slot;
  }

  /**
   * Loads the library, finds the token by label, opens a session and logs in. Throws a
   * TokenError whose message is one line for the operator (never the PIN).
   */
  static open(config: TokenConfig): Pkcs11Token {
    const lib = new (pkcs11js().PKCS11)();
    try {
      lib.load(config.module);
    } catch (err) {
      throw new TokenError('TOKEN_UNAVAILABLE', `cannot load the PKCS#11 library ${config.module}`, { cause: err });
    }
    try {
      lib.C_Initialize({ flags: CKF_OS_LOCKING_OK });
    } catch (err) {
      // Another thread (or another Pkcs11Token of this one) initialised the library: carry on.
      if (pkcs11Code(err) !== CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        throw new TokenError('TOKEN_UNAVAILABLE', `the PKCS#11 library ${config.module} failed to initialise`, { cause: err });
      }
    }
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === config.tokenLabel);
    if (!slot) throw new TokenError('TOKEN_UNAVAILABLE', `no token labelled "${config.tokenLabel}" in ${config.module}`);
    const token = new Pkcs11Token(config, lib, slot);
    token.#openSession();
    return token;
  }

  #openSession(): Handle {
    const session = this.#lib.C_OpenSession(this.#slot, CKF_SERIAL_SESSION | CKF_RW_SESSION);
    try {
      this.#lib.C_Login(session, CKU_USER, this.#config.pin);
      // Logged in afresh: whatever sessions this process had are gone (see the top of the file).
      this.#epoch = Atomics.add(sessionEpoch, 0, 1) + 1;
    } catch (err) {
      const code = pkcs11Code(err);
      if (code !== CKR_USER_ALREADY_LOGGED_IN) {
        this.#lib.C_CloseSession(session);
        if (code === CKR_PIN_INCORRECT || code === CKR_PIN_LOCKED) {
          throw new TokenError('TOKEN_LOGIN_FAILED', `the PIN for token "${this.#config.tokenLabel}" is ${code === CKR_PIN_LOCKED ? 'locked' : 'wrong'}`);
        }
        throw new TokenError('TOKEN_LOGIN_FAILED', `cannot log in to token "${this.#config.tokenLabel}"`, { cause: err });
      }
      this.#epoch = Atomics.load(sessionEpoch, 0);
    }
    this.#session = session;
    return session;
  }

  /**
   * Runs `op` on this thread's session, opening one if there is none. A lost session (or a
   * token that cannot be reopened) answers UNAVAILABLE and is dropped for the next call to redo.
   */
  #withSession<T>(op: (session: Handle) => T): T {
    if (this.#session && this.#epoch !== Atomics.load(sessionEpoch, 0)) this.#forgetSession();
    let session: Handle;
    try {
      session = this.#session ?? this.#openSession();
    } catch (err) {
      throw new CryptoError('UNAVAILABLE', `the token "${this.#config.tokenLabel}" cannot be opened: ${(err as Error).message}`);
    }
    try {
      return op(session);
    } catch (err) {
      if (SESSION_LOST.has(pkcs11Code(err) ?? -1)) {
        this.#dropSession();
        throw new CryptoError('UNAVAILABLE', `the session with token "${this.#config.tokenLabel}" was lost; a new one is opened for the next call`);
      }
      throw err;
    }
  }

  #forgetSession(): Handle | undefined {
    const session = this.#session;
    this.#session = undefined;
    this.#handles.clear();
    return session;
  }

  #dropSession(): void {
    const session = this.#forgetSession();
    if (session) {
      try {
        this.#lib.C_CloseSession(session);
      } catch {
        // Already closed under us: nothing to release.
      }
    }
  }

  #find(session: Handle, template: Attribute[], max: number): Handle[] {
    this.#lib.C_FindObjectsInit(session, template);
    try {
      return this.#lib.C_FindObjects(session, max);
    } finally {
      this.#lib.C_FindObjectsFinal(session);
    }
  }

  #key(session: Handle, objectClass: number, label: string): Handle {
    const cacheKey = `${objectClass}:${label}`;
    let handle = this.#handles.get(cacheKey);
    if (!handle) {
      const found = this.#find(session, [{ type: CKA_CLASS, value: objectClass }, { type: CKA_LABEL, value: label }], 2);
      if (found.length !== 1) {
        throw new TokenError('TOKEN_KEY_MISSING', `token "${this.#config.tokenLabel}" has ${found.length === 0 ? 'no' : 'more than one'} key labelled "${label}"`);
      }
      handle = found[0];
      this.#handles.set(cacheKey, handle);
    }
    return handle;
  }

  #sign(session: Handle, mechanism: number, key: Handle, data: Buffer, outBytes: number): Buffer {
    this.#lib.C_SignInit(session, { mechanism }, key);
    return this.#lib.C_Sign(session, data, Buffer.alloc(outBytes));
  }

  /** HMAC-SHA256 (CKM_SHA256_HMAC) with the secret key labelled `label`. */
  hmacSha256(label: string, data: Uint8Array): Buffer {
    return this.#withSession((session) => this.#sign(session, CKM_SHA256_HMAC, this.#key(session, CKO_SECRET_KEY, label), Buffer.from(data), 32));
  }

  /**
   * Signs with the private key labelled `label`: RSA-SHA256 takes the message (the token hashes,
   * PKCS#1 v1.5); ECDSA takes the hash computed by the caller and answers raw r||s.
   */
  sign(label: string, mechanism: SignatureMechanism, data: Uint8Array): Buffer {
    return this.#withSession((session) =>
      this.#sign(session, mechanism === 'ECDSA' ? CKM_ECDSA : CKM_SHA256_RSA_PKCS, this.#key(session, CKO_PRIVATE_KEY, label), Buffer.from(data), 1024),
    );
  }

  /** 'RSA' or 'EC' for the private key labelled `label`. */
  privateKeyType(label: string): 'RSA' | 'EC' {
    return this.#withSession((session) => {
      const [attr] = this.#lib.C_GetAttributeValue(session, this.#key(session, CKO_PRIVATE_KEY, label), [{ type: CKA_KEY_TYPE }]);
      // A CK_ULONG in the platform's byte order and size (8 bytes, little-endian here).
      const type = attr.value && (attr.value.length === 8 ? Number(attr.value.readBigUInt64LE(0)) : attr.value.readUInt32LE(0));
      if (type === CKK_RSA) return 'RSA';
      if (type === CKK_EC) return 'EC';
      throw new TokenError('TOKEN_FAILED', `the key "${label}" is neither RSA nor EC`);
    });
  }

  /** Labels of the secret keys whose label starts with `prefix`. */
  secretKeyLabels(prefix: string): string[] {
    return this.#withSession((session) => {
      const handles = this.#find(session, [{ type: CKA_CLASS, value: CKO_SECRET_KEY }], 10_000);
      return handles
        .map((h) => this.#lib.C_GetAttributeValue(session, h, [{ type: CKA_LABEL }])[0].value?.toString('utf8') ?? '')
        .filter((label) => label.startsWith(prefix));
    });
  }

  /**
   * A 32-byte generic secret for HMAC, generated on the token: sensitive, never extractable.
   * `id` (CKA_ID) tells it apart from another key given the same label at the same moment.
   */
  generateHmacKey(label: string, id?: Uint8Array): void {
    this.#withSession((session) => {
      this.#lib.C_GenerateKey(session, { mechanism: CKM_GENERIC_SECRET_KEY_GEN }, [
        ...secretKeyTemplate(label),
        { type: CKA_VALUE_LEN, value: 32 },
        ...(id ? [{ type: CKA_ID, value: Buffer.from(id) }] : []),
      ]);
    });
  }

  /** The CKA_IDs of the secret keys labelled `label` (empty for a key without one). */
  secretKeyIds(label: string): Buffer[] {
    return this.#withSession((session) =>
      this.#find(session, [{ type: CKA_CLASS, value: CKO_SECRET_KEY }, { type: CKA_LABEL, value: label }], 100).map(
        (h) => this.#lib.C_GetAttributeValue(session, h, [{ type: CKA_ID }])[0].value ?? Buffer.alloc(0),
      ),
    );
  }

  /** Destroys the secret key labelled `label` whose CKA_ID is `id`. */
  destroySecretKey(label: string, id: Uint8Array): void {
    this.#withSession((session) => {
      const template = [{ type: CKA_CLASS, value: CKO_SECRET_KEY }, { type: CKA_LABEL, value: label }, { type: CKA_ID, value: Buffer.from(id) }];
      for (const handle of this.#find(session, template, 100)) this.#lib.C_DestroyObject(session, handle);
      this.#handles.delete(`${CKO_SECRET_KEY}:${label}`);
    });
  }

  /**
   * Imports a generic secret for HMAC (C_CreateObject), sensitive and not extractable from then
   * on: how a key ring file's keys move onto a token (pkcs11-tool cannot import generic secrets).
   */
  importHmacKey(label: string, value: Uint8Array): void {
    this.#withSession((session) => {
      this.#lib.C_CreateObject(session, [
        { type: CKA_CLASS, value: CKO_SECRET_KEY },
        { type: CKA_KEY_TYPE, value: CKK_GENERIC_SECRET },
        ...secretKeyTemplate(label),
        { type: CKA_VALUE, value: Buffer.from(value) },
      ]);
    });
  }

  /** Closes this thread's session (the library stays initialised for the other threads). */
  close(): void {
    this.#dropSession();
  }

  /** For tests: what a lost session looks like, every session of this process closed under us. */
  closeAllSessions(): void {
    this.#lib.C_CloseAllSessions(this.#slot);
  }
}

function secretKeyTemplate(label: string): Attribute[] {
  return [
    { type: CKA_TOKEN, value: true },
    { type: CKA_PRIVATE, value: true },
    { type: CKA_LABEL, value: label },
    { type: CKA_SIGN, value: true },
    { type: CKA_VERIFY, value: true },
    { type: CKA_SENSITIVE, value: true },
    { type: CKA_EXTRACTABLE, value: false },
  ];
}
