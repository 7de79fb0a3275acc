import type { BatonClient } from '@baton/client';

/** What a command may touch: the client, output streams, stdin and a stop signal (Ctrl-C). */
export interface CommandContext {
  client: BatonClient;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
  signal: AbortSignal;
}

/** Wrong usage: printed with the usage text, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
