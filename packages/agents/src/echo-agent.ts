import { setTimeout as sleep } from 'node:timers/promises';
import type { Agent, TurnInput } from './agent.ts';
import type { ChatMessage } from '@baton/core';

/**
 * Offline and deterministic: answers `echo: <last message's content>`. `delayMs`
 * simulates a slow model so load tests can model real latency.
 */
export class EchoAgent implements Agent {
  readonly name = 'echo';

  constructor(private readonly delayMs = 0) {}

  async run({ messages, signal }: TurnInput): Promise<ChatMessage> {
    if (this.delayMs > 0) await sleep(this.delayMs, undefined, { signal });
    signal.throwIfAborted();
    const last = messages[messages.length - 1];
    return { role: 'assistant', content: `echo: ${last?.content ?? ''}` };
  }
}
