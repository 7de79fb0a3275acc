import { setTimeout as sleep } from 'node:timers/promises';
import { type ChatMessage, EchoParams } from '@baton/core';
import { type Agent, AgentError, type InterruptRequest, type StepAgent, type StepInput, type StepResult, type TurnInput } from './agent.ts';

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
 * value as JSON. `delayMs` applies to each step. With the session's `config.confirm_tool_calls`
 * (or an OpenHands AlwaysConfirm policy) each clock call is recorded, then waits for a
 * `tool_approval`; a refusal becomes the call's result and the turn goes on.
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
    const { signal } = input;
    const confirm = input.config.confirm_tool_calls === true;
    // This turn's clock calls so far, read from the history (not from `stepIndex`: with
    // `confirm_tool_calls` each call takes two steps, the call and, after approval, its result).
    const prefix = `call_${input.turnId}_`;
    const tail = input.messages.slice(input.turnStart);
    const results = tail.filter((m) => m.role === 'tool' && m.tool_call_id?.startsWith(prefix)).length;
    const last = tail[tail.length - 1];
    const pending = last?.role === 'assistant' ? last.tool_calls?.find((c) => c.id.startsWith(prefix)) : undefined;
    if (pending) {
      // A call waiting for its approval: the person's answer to it, if this step follows a resume.
      const payload = input.resume?.interrupt.payload as { tool_call_id?: unknown } | null | undefined;
      const answer = input.resume?.interrupt.type === 'tool_approval' && payload?.tool_call_id === pending.id ? input.resume : undefined;
      if (!answer) return { messages: [], interrupt: clockApproval(pending.id), done: false };
      const value = (answer.value ?? {}) as { approved?: unknown; reason?: unknown };
      if (value.approved !== true) {
        const why = typeof value.reason === 'string' && value.reason ? `: ${value.reason}` : '';
        return { messages: [clockResult(pending.id, `Refused: the user did not approve this call${why}`)], done: false };
      }
      return { messages: [this.runClock(pending.id, signal)], done: false };
    }
    if (results < params.tool_steps) {
      if (this.delayMs > 0) await sleep(this.delayMs, undefined, { signal });
      signal.throwIfAborted();
      // Stable across a rerun of the same step (a worker that died mid-step): the same id.
      const id = `${prefix}${results}`;
      const call: ChatMessage = { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'clock', arguments: '{}' } }] };
      // Confirm every tool call: the call is recorded, then the turn waits for its approval.
      if (confirm) return { messages: [call], interrupt: clockApproval(id), done: false };
      return { messages: [call, this.runClock(id, signal)], done: false };
    }
    const resumedHere = input.resume && !isClockApproval(input.resume.interrupt.payload, prefix);
    if (params.interrupt && !resumedHere) {
      signal.throwIfAborted();
      return { messages: [], interrupt: { type: params.interrupt.type, payload: params.interrupt.payload ?? null }, done: false };
    }
    const message = input.messages[input.turnStart - 1];
    const answer = resumedHere ? ` ${JSON.stringify(input.resume?.value ?? null)}` : '';
    const reply = await this.reply(`echo: ${message?.content ?? ''}${answer}`, signal, input.onDelta);
    return { messages: [reply], done: true };
  }

  /** Runs the built-in `clock` tool: its `tool` message. */
  private runClock(id: string, signal: AbortSignal): ChatMessage {
    signal.throwIfAborted();
    this.options.onToolRun?.('clock', id);
    const now = (this.options.now ?? (() => new Date()))();
    return clockResult(id, JSON.stringify({ now: now.toISOString() }));
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

function clockResult(id: string, content: string): ChatMessage {
  return { role: 'tool', tool_call_id: id, name: 'clock', content };
}

/** The interrupt a clock call waits on under `confirm_tool_calls`, shaped as the tool loop's. */
function clockApproval(id: string): InterruptRequest {
  return { type: 'tool_approval', payload: { tool_call_id: id, name: 'clock', arguments: {} } };
}

function isClockApproval(payload: unknown, prefix: string): boolean {
  const id = (payload as { tool_call_id?: unknown } | null | undefined)?.tool_call_id;
  return typeof id === 'string' && id.startsWith(prefix);
}
