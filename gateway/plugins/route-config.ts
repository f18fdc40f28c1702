// What a route declares about itself in its `config`, read by the shared hooks.
declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without a token (health, metrics, OpenAPI, CRL). Routes need a token by default. */
    public?: boolean;
    /** Hands out key material or a PIN: rate-limited per caller, never cached. */
    secret?: boolean;
  }
}

export {};
