import { setTimeout as sleep } from 'node:timers/promises';
import { type ChatMessage, EchoParams } from '@baton/core';
import { type Agent, AgentError, type StepAgent, type StepInput, type StepResult, type TurnInput } from './agent.ts';

export interface EchoAgentOptions {
  /** Told of each run of the built-in `clock` tool (the worker logs it; tests count the runs). */
  onToolRun?: (tool: string, toolCallId: string) => void;
  now?: () => Date;
}

/**
 * Offline and deterministic: answers `echo: <the turn's message content>`. `delayMs`
 * simulates a slow model so load tests can model real latency; with a delay and an
 * `onDelta`, the reply streams word by word over that time (without a delay there is
 * nothing to stream: the reply is whole at once).
 *
 * As a step agent it follows a test contract read from the turn's message
 * `user_params.echo` (`EchoParams`): `tool_steps: N` steps, each an assistant message calling
 * the built-in `clock` tool and that call's `tool` result; then, with `interrupt: {type,
 * payload}`, a stop for a person; then the reply, followed after a resume by the resume
 * value as JSON. `delayMs` applies to each step.
 */
export class EchoAgent implements Agent, StepAgent {
  readonly name = 'echo';

  constructor(
    private readonly delayMs = 0,
    private readonly options: EchoAgentOptions = {},
  ) {}

  async run({ messages, signal, onDelta }: TurnInput): Promise<ChatMessage> {
    const last = messages[messages.length - 1];
    return this.reply(`echo: ${last?.content ?? ''}`, signal, onDelta);
  }

  async step(input: StepInput): Promise<StepResult> {
    const params = echoParams(input.userParams);
    const { signal, stepIndex } = input;
    if (stepIndex < params.tool_steps) {
      if (this.delayMs > 0) await sleep(this.delayMs, undefined, { signal });
      signal.throwIfAborted();
      // Stable across a rerun of the same step (a worker that died mid-step): the same id.
      const id = `call_${input.turnId}_${stepIndex}`;
      this.options.onToolRun?.('clock', id);
      const now = (this.options.now ?? (() => new Date()))();
      return {
        messages: [
          { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'clock', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: id, name: 'clock', content: JSON.stringify({ now: now.toISOString() }) },
        ],
        done: false,
      };
    }
    if (params.interrupt && !input.resume) {
      signal.throwIfAborted();
      return { messages: [], interrupt: { type: params.interrupt.type, payload: params.interrupt.payload ?? null }, done: false };
    }
    const message = input.messages[input.turnStart - 1];
    const answer = input.resume ? ` ${JSON.stringify(input.resume.value ?? null)}` : '';
    const reply = await this.reply(`echo: ${message?.content ?? ''}${answer}`, signal, input.onDelta);
    return { messages: [reply], done: true };
  }

  private async reply(content: string, signal: AbortSignal, onDelta?: (text: string) => void): Promise<ChatMessage> {
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

/** The turn's `user_params.echo`, checked: a bad one fails the turn with a message naming the field. */
export function echoParams(userParams: Record<string, unknown> | undefined): EchoParams {
  const parsed = EchoParams.safeParse(userParams?.echo ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = ['user_params', 'echo', ...(issue?.path ?? [])].join('.');
  throw new AgentError(`${path}: ${issue?.message ?? 'invalid'}`);
}
