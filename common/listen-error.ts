// A listener that could not bind, named by the variables that chose its address, so that the
// start-up failure line tells the operator what to change.

export class ListenError extends Error {
  constructor(variables: string, address: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const message = String((cause as Error | undefined)?.message ?? cause);
    const why =
      code === 'EADDRINUSE' || /address already in use|No address added/i.test(message)
        ? 'is already in use'
        : `cannot be listened on (${code ?? message})`;
    super(`${variables}: ${address} ${why}`);
    this.name = 'ListenError';
  }
}
