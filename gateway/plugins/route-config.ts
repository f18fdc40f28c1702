// What a route declares about itself in its `config`, read by the shared hooks.
declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without a token (health, metrics, OpenAPI, CRL). Routes need a token by default. */
    public?: boolean;
    /** Hands out key material or a PIN: never cached (the core rate-limits it per caller). */
    secret?: boolean;
  }
}

export {};
