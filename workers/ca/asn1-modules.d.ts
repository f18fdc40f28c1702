// Type declarations for asn1.js and its RFC schema packages (they ship none). Values are loose
// on purpose: each schema's shape is documented where it is declared (workers/ca/schemas.ts).

declare module 'asn1.js' {
  /* eslint-disable @typescript-eslint/no-explicit-any */
  export interface Entity<T = any> {
    encode(data: T, enc: 'der'): Buffer;
    decode(data: Buffer, enc: 'der'): T;
  }
  export function define<T = any>(name: string, body: (this: any) => void): Entity<T>;
  const asn1: { define: typeof define };
  export default asn1;
}

declare module 'asn1.js-rfc5280' {
  import type { Entity } from 'asn1.js';
  const rfc5280: Record<string, Entity>;
  export default rfc5280;
}

declare module 'asn1.js-rfc2560' {
  import type { Entity } from 'asn1.js';
  const rfc2560: Record<string, Entity>;
  export default rfc2560;
}
