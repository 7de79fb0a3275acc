import { setTimeout as sleep } from 'node:timers/promises';
import type { Agent, TurnInput } from './agent.ts';
import type { ChatMessage } from '@baton/core';

/**
 * Offline and deterministic: answers `echo: <last message's content>`. `delayMs`
 * simulates a slow model so load tests can model real latency; with a delay and an
 * `onDelta`, the reply streams word by word over that time (without a delay there is
 * nothing to stream: the reply is whole at once).
 */
export class EchoAgent implements Agent {
  readonly name = 'echo';

  constructor(private readonly delayMs = 0) {}

  async run({ messages, signal, onDelta }: TurnInput): Promise<ChatMessage> {
    const last = messages[messages.length - 1];
    const content = `echo: ${last?.content ?? ''}`;
    if (this.delayMs > 0 && onDelta) {
      // "echo:", " hello", " world": each word with the space before it.
      const words = content.match(/\s*\S+|\s+$/g) ?? [content];
      for (const word of words) {
        await sleep(this.delayMs / words.length, undefined, { signal });
        onDelta(word);
      }
    } else if (this.delayMs > 0) {
      await sleep(this.delayMs, undefined, { signal });
    }
    signal.throwIfAborted();
    return { role: 'assistant', content };
  }
}
