import { type SessionStatus, globalKeys, keySlot, sessionKeys, type GlobalKeys } from '@baton/core';
import type { RedisClient } from './connections.ts';
import { callScript } from './scripts.ts';

/** A session in the reaper's index and when its check is due (ms). */
export interface RunningEntry {
  sessionId: string;
  dueAt: number;
}

/**
 * The reaper's running index: a sorted set of the sessions whose turn runs, waits or has events
 * in its outbox, scored by when the reaper should look at them. Scripts that start a turn enter
 * it (on a cluster, where the index is in another slot, a call of its own just before); a turn's
 * end takes it out; the reaper reads what is due and repairs or postpones it.
 */
export class RunningIndex {
  private readonly keys: GlobalKeys;
  private readonly isCluster: boolean;
  private readonly now: () => number;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: { prefix: string; runningGraceMs: number; now?: () => number },
  ) {
    this.keys = globalKeys(options.prefix);
    this.isCluster = Boolean((redis as { isCluster?: boolean }).isCluster);
    this.now = options.now ?? Date.now;
  }

  private sessionKeys(sessionId: string) {
    return sessionKeys(this.options.prefix, sessionId);
  }

  /** (Re)schedules the reaper's check of a session's running turn. */
  async mark(sessionId: string, from = this.now()): Promise<void> {
    await callScript(this.redis, 'markRunning', [this.keys.running], [sessionId, from + this.options.runningGraceMs]);
  }

  /** Entries due by `upTo` (default now), earliest first; `skip` passes over the first ones. */
  async due(limit: number, upTo = this.now(), skip = 0): Promise<RunningEntry[]> {
    const flat = await this.redis.zrangebyscore(this.keys.running, '-inf', upTo, 'WITHSCORES', 'LIMIT', skip, limit);
    const out: RunningEntry[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ sessionId: flat[i] as string, dueAt: Number(flat[i + 1]) });
    return out;
  }

  async release(entry: RunningEntry): Promise<boolean> {
    return (await callScript(this.redis, 'releaseCheck', [this.keys.running], [entry.sessionId, entry.dueAt])) === 1;
  }

  /**
   * A turn ended and its events are queued: its session leaves the running index unless a
   * turn runs again (or waits) or events wait in its outbox. On a cluster the index is in
   * another slot, so no script can check and remove at once: the entry stays until its check
   * time and the reaper drops it then. True when the entry was removed.
   */
  async settle(sessionId: string): Promise<boolean> {
    if (this.isCluster) return false;
    const k = this.sessionKeys(sessionId);
    return (await callScript(this.redis, 'settleRunning', [k.meta, k.outbox, this.keys.running], [sessionId])) === 1;
  }

  /**
   * Takes the reaper's turn for this interval: at most one worker holds it (`SET NX PX`, as
   * BullMQ's stalled-job check); it lapses after `ms`, never released, so passes stay `ms` apart.
   */
  async claimPass(token: string, ms: number): Promise<boolean> {
    return (await this.redis.set(this.keys.reaperLock, token, 'PX', ms, 'NX')) === 'OK';
  }

  /**
   * `postpone` for many sessions in one command (the reaper's healthy turns). Only entries
   * still in the index: one a worker removed meanwhile (its turn ended) stays out.
   */
  async postponeMany(sessionIds: string[], ms: number): Promise<void> {
    if (sessionIds.length === 0) return;
    const at = this.now() + ms;
    const args: (string | number)[] = [];
    for (const id of sessionIds) args.push(at, id);
    await this.redis.zadd(this.keys.running, 'XX', ...args);
  }

  /** The earliest check time in the index after the first `skip` entries (null: none). */
  async nextDue(skip = 0): Promise<number | null> {
    const [, score] = await this.redis.zrange(this.keys.running, skip, skip, 'WITHSCORES');
    return score === undefined ? null : Number(score);
  }

  /** `turn`'s status, turn id and run for many sessions at once (null: gone). */
  async turnIds(sessionIds: string[]): Promise<({ status: SessionStatus; turnId: string; run: number } | null)[]> {
    if (sessionIds.length === 0) return [];
    const fields = ['status', 'turn_id', 'step_turn', 'run'] as const;
    let replies: (string | null)[][];
    if (this.isCluster) {
      // Each session in a slot of its own: one pipeline per node (a command each costs the client far more).
      replies = new Array(sessionIds.length);
      const byNode = new Map<string, number[]>();
      const slots = (this.redis as { slots?: string[][] }).slots ?? [];
      sessionIds.forEach((id, i) => {
        const node = slots[keySlot(this.sessionKeys(id).meta)]?.join() ?? '';
        const indexes = byNode.get(node);
        if (indexes) indexes.push(i);
        else byNode.set(node, [i]);
      });
      await Promise.all(
        [...byNode.values()].map(async (indexes) => {
          const pipe = this.redis.pipeline();
          for (const i of indexes) pipe.hmget(this.sessionKeys(sessionIds[i] as string).meta, ...fields);
          const results = (await pipe.exec()) ?? [];
          results.forEach(([err, reply], j) => {
            if (err) throw err;
            replies[indexes[j] as number] = reply as (string | null)[];
          });
        }),
      );
    } else {
      // One script call for the batch: a command per session costs the client far more than Redis.
      const flat = (await callScript(this.redis, 'runningTurns', sessionIds.map((id) => this.sessionKeys(id).meta), [])) as (string | null)[];
      replies = sessionIds.map((_, i) => flat.slice(i * fields.length, (i + 1) * fields.length));
    }
    return replies.map(([status, turnId, stepTurn, run]) =>
      status ? { status: status as SessionStatus, turnId: turnId ?? '', run: stepTurn && stepTurn === turnId ? Number(run ?? 0) : 0 } : null,
    );
  }

  async postpone(sessionId: string, ms: number): Promise<void> {
    await this.redis.zadd(this.keys.running, this.now() + ms, sessionId);
  }

  /** Status and running turn of a session, for the reaper; `run`: the turn's resumes (its job is `turnJobId(turn, run)`). */
  async turn(sessionId: string): Promise<{ status: SessionStatus; turnId: string; acceptedAt: number; run: number } | null> {
    const [status, turnId, acceptedAt, stepTurn, run] = await this.redis.hmget(
      this.sessionKeys(sessionId).meta,
      'status',
      'turn_id',
      'turn_accepted_at',
      'step_turn',
      'run',
    );
    if (!status) return null;
    return {
      status: status as SessionStatus,
      turnId: turnId ?? '',
      acceptedAt: Number(acceptedAt ?? 0),
      run: stepTurn && stepTurn === turnId ? Number(run ?? 0) : 0,
    };
  }
}
