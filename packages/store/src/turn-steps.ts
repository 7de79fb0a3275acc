import { randomUUID } from 'node:crypto';
import { type ChatMessage, type InterruptInfo, type InterruptType, globalKeys, sessionKeys } from '@baton/core';
import type { RedisClient } from './connections.ts';
import { encodeMessage } from './message-record.ts';
import { callScript } from './scripts.ts';
import { inOrder } from './in-order.ts';

export interface TurnStepsOptions {
  prefix: string;
  runningGraceMs: number;
  /** True when server-wide webhook endpoints want every turn event. */
  notifyAll?: boolean;
  streamTtlMs: number;
  now: () => number;
}

export type StepRecordResult =
  /** `notify`: a `turn.interrupted` event went to the outbox (some webhook wants it). */
  | { kind: 'ok'; notify: boolean }
  /** A cancel is recorded: nothing was written; finish the turn as cancelled. */
  | { kind: 'cancelled' }
  /** Not this claim's turn any more (taken over, finished), or the step is recorded already. */
  | { kind: 'stale' | 'gone' };

export type ResumeResult =
  | { kind: 'ok'; turnId: string; run: number }
  | { kind: 'not_interrupted'; status: string }
  | { kind: 'interrupt_not_found' | 'not_found' };

/**
 * The steps of multi-step turns (an agent's tool loop): each step's messages recorded by one
 * fenced script, a step that stops for a person (`interrupted`), the resume that lets the turn
 * go on, and the end of a wait that lasted too long.
 */
export class TurnSteps {
  constructor(
    private readonly redis: RedisClient,
    private readonly options: TurnStepsOptions,
  ) {}

  /**
   * Records step `index` of a turn under the claim's fence: its messages, and its interrupt
   * (the turn then waits for a person; the interrupt gets a new id).
   */
  async record(input: {
    sessionId: string;
    turnId: string;
    fence: string;
    index: number;
    messages: ChatMessage[];
    interrupt?: { type: InterruptType; payload: unknown };
  }): Promise<StepRecordResult & { interrupt?: InterruptInfo }> {
    const now = this.options.now();
    const k = sessionKeys(this.options.prefix, input.sessionId);
    const interrupt: InterruptInfo | undefined = input.interrupt
      ? { interrupt_id: randomUUID(), type: input.interrupt.type, payload: input.interrupt.payload ?? null }
      : undefined;
    const args: (string | number)[] = [
      input.turnId,
      input.fence,
      input.index,
      now,
      this.options.streamTtlMs,
      this.options.notifyAll ? '1' : '0',
      interrupt ? JSON.stringify(interrupt) : '',
      interrupt?.interrupt_id ?? '',
    ];
    for (const message of input.messages) {
      args.push(encodeMessage(message, { at: now, turn: input.turnId, step: input.index }));
      args.push(JSON.stringify({ turn_id: input.turnId, step: input.index, message }));
    }
    const reply = (await callScript(this.redis, 'step', [k.meta, k.messages, k.events, k.outbox, k.stream, k.early], args)) as (string | number)[];
    if (reply[0] !== 'ok') return { kind: reply[0] as 'cancelled' | 'stale' | 'gone' };
    return { kind: 'ok', notify: reply[1] === 1, ...(interrupt ? { interrupt } : {}) };
  }

  /**
   * Answers the interrupt the session's turn waits on; the turn runs again (the caller queues
   * its job, `turnJobId(turnId, run)`). `tenant`: another tenant's session is `not_found`.
   */
  async resume(sessionId: string, interruptId: string, value: unknown, tenant = ''): Promise<ResumeResult> {
    const now = this.options.now();
    const k = sessionKeys(this.options.prefix, sessionId);
    // The reaper's entry first, in case this process dies before queueing the job.
    const [, answer] = await inOrder(this.redis, [
      () => callScript(this.redis, 'markRunning', [globalKeys(this.options.prefix).running], [sessionId, now + this.options.runningGraceMs]),
      () =>
        callScript(this.redis, 'resume', [k.meta, k.events, k.stream], [
          interruptId,
          JSON.stringify(value ?? null),
          now,
          this.options.streamTtlMs,
          tenant,
          randomUUID(),
        ]),
    ]);
    const reply = answer as (string | number)[];
    if (reply[0] === 'ok') return { kind: 'ok', turnId: reply[1] as string, run: Number(reply[2]) };
    if (reply[0] === 'not_interrupted') return { kind: 'not_interrupted', status: reply[1] as string };
    return { kind: reply[0] as 'interrupt_not_found' | 'not_found' };
  }

  /**
   * Ends the turn `turnId` with an error if it has waited for a person `timeoutMs` or longer.
   * `waiting`: how long it still may wait; `no`: it is not waiting (resumed, ended, another turn).
   */
  async endWaitPast(
    sessionId: string,
    turnId: string,
    timeoutMs: number,
  ): Promise<{ kind: 'ended'; startedTurnId: string | null } | { kind: 'waiting'; leftMs: number } | { kind: 'no' }> {
    const k = sessionKeys(this.options.prefix, sessionId);
    const reply = (await callScript(this.redis, 'interruptTimeout', [k.meta, k.messages, k.inbox, k.events, k.outbox, k.turns, k.stream, k.expiry, k.early], [
      turnId,
      this.options.now(),
      timeoutMs,
      this.options.streamTtlMs,
      `Turn ended: no answer to its interrupt within ${timeoutMs / 1000}s (INTERRUPT_TIMEOUT_S)`,
    ])) as (string | number)[];
    if (reply[0] === 'ended') return { kind: 'ended', startedTurnId: (reply[1] as string) || null };
    if (reply[0] === 'waiting') return { kind: 'waiting', leftMs: Number(reply[1]) };
    return { kind: 'no' };
  }
}
