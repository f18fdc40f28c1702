// What a route declares about itself in its `config`, read by the shared hooks.
declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without a token (health, metrics, OpenAPI, CRL). Routes need a token by default. */
    public?: boolean;
    /** Hands out key material or a PIN: never cached (the core rate-limits it per caller). */
    secret?: boolean;
    /** The operation's name in the OpenAPI document (the gRPC method's, where there is one). */
    operationId?: string;
    /** The media type of a 200 answer that is not JSON, for the OpenAPI document. */
    mediaType?: string;
  }
}

export {};
