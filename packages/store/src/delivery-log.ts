import type { RedisClient } from './connections.ts';
import { type ChatMessage, type TurnEventType, globalKeys, sessionKeys } from '@baton/core';
import { decodeMessage } from './message-record.ts';
import { callScript, defineScripts } from './scripts.ts';

/** A turn event waiting in a session's outbox, as finish.lua / delete.lua / step.lua wrote it. */
export interface OutboxEvent {
  turn_id: string;
  /** Set when the event is not the turn's end (`turn.interrupted`: the interrupt's id); deliveries are keyed by it. */
  event_id?: string;
  type: TurnEventType;
  /** When the turn ended (ms, as a string). */
  at: string;
  status: 'idle' | 'error' | 'interrupted';
  /** `turn.interrupted`: the interrupt's JSON (`InterruptInfo`). */
  interrupt?: string;
  /** The reply's JSON, or ''. */
  response: string;
  error: string;
  /** How many history messages the turn's end left (the `include_messages` prefix). */
  history_len: number;
  /** The message's webhook JSON, or ''. */
  webhook: string;
  /** The session's default webhook JSON, or ''. */
  session_webhook: string;
  /** The session's tenant ('' without auth; absent in events written before tenants). */
  tenant?: string;
  /** The session's incarnation (create.lua; absent in events written before incarnations). */
  incarnation?: string;
}

export interface DeliveryAttempt {
  at: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dead';

/**
 * One event on its way to one endpoint, with every attempt made: what the log rewrites at
 * each attempt. Its body is kept apart, stored once (see `Delivery`).
 */
export interface DeliveryRecord {
  id: string;
  /** The Standard Webhooks `webhook-id`: the same on every attempt and redelivery. */
  webhook_id: string;
  session_id: string;
  turn_id: string;
  type: TurnEventType;
  /** Whose webhook: the message's, the session's default, or a server-wide endpoint. */
  target: 'message' | 'session' | 'server';
  url: string;
  token?: string;
  /** The webhook's own secret(s); when absent the server's WEBHOOK_SECRET signs. */
  secret?: string;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  /** Attempts made before the current run of the schedule (a redelivery starts it again). */
  schedule_base: number;
  redeliveries: number;
  next_attempt_at: string | null;
  created_at: string;
  /** The session's tenant: whose dead-letter list the delivery joins. */
  tenant?: string;
  /**
   * The incarnation of the session whose turn it reports: a session's log shows only its
   * own, not those of a deleted session with the same id (kept a day, still redeliverable).
   */
  incarnation?: string;
}

/** A delivery and its body: the exact bytes sent on every attempt and redelivery. */
export interface Delivery extends DeliveryRecord {
  body: string;
}

/** What the API shows of a delivery: no body, token or secret. */
export type DeliveryView = Omit<DeliveryRecord, 'token' | 'secret' | 'schedule_base' | 'tenant' | 'incarnation'>;

export function deliveryView(d: DeliveryRecord): DeliveryView {
  const { token: _t, secret: _s, schedule_base: _sb, tenant: _tn, incarnation: _i, ...view } = withoutBody(d);
  return view;
}

/** The record alone: a `Delivery` (or a record written before bodies were kept apart) without its body. */
function withoutBody(d: DeliveryRecord & { body?: string }): DeliveryRecord {
  const { body: _b, ...record } = d;
  return record;
}

/** How much of the webhook side a session and the server keep (see README, Webhooks). */
export interface DeliveryLogLimits {
  /** Deliveries kept per session log (the oldest finished ones go first); 0: no cap. */
  maxPerSession: number;
  /** How long a delivery is kept after it was created (ms); 0: for ever (a live session's). */
  maxAgeMs: number;
  /** Dead letters kept in the server's list and in each tenant's (the oldest go); 0: no cap. */
  maxDeadLetters: number;
}

export const DEFAULT_DELIVERY_LOG_LIMITS: DeliveryLogLimits = {
  maxPerSession: 100,
  maxAgeMs: 7 * 24 * 3600_000,
  maxDeadLetters: 10_000,
};

/** The limits from the environment (`WEBHOOK_LOG_MAX`, `WEBHOOK_LOG_TTL_S`, `DEAD_LETTERS_MAX`). */
export function deliveryLogLimits(env: { WEBHOOK_LOG_MAX: number; WEBHOOK_LOG_TTL_S: number; DEAD_LETTERS_MAX: number }): DeliveryLogLimits {
  return { maxPerSession: env.WEBHOOK_LOG_MAX, maxAgeMs: env.WEBHOOK_LOG_TTL_S * 1000, maxDeadLetters: env.DEAD_LETTERS_MAX };
}

export interface DeadLetter {
  session_id: string;
  delivery_id: string;
  dead_at: string;
}

/**
 * The webhook side of the session store: each session's outbox of turn-end events,
 * its delivery log, and the global dead-letter list.
 */
export class DeliveryLog {
  private readonly global: ReturnType<typeof globalKeys>;

  readonly limits: DeliveryLogLimits;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    limits: Partial<DeliveryLogLimits> = {},
    /** The clock the log trims by (tests set it). */
    private readonly now: () => number = Date.now,
  ) {
    defineScripts(redis);
    this.global = globalKeys(prefix);
    this.limits = { ...DEFAULT_DELIVERY_LOG_LIMITS, ...limits };
  }

  private keys(sessionId: string) {
    return sessionKeys(this.prefix, sessionId);
  }

  async outbox(sessionId: string): Promise<{ raw: string; event: OutboxEvent }[]> {
    const raws = await this.redis.lrange(this.keys(sessionId).outbox, 0, -1);
    return raws.map((raw) => ({ raw, event: JSON.parse(raw) as OutboxEvent }));
  }

  /** Removes one outbox entry once its deliveries are queued. */
  async removeFromOutbox(sessionId: string, raw: string): Promise<void> {
    await this.redis.lrem(this.keys(sessionId).outbox, 1, raw);
  }

  /**
   * The last `max` of the first `length` messages of the history (history only grows while the
   * session lives: the first `length` are the history at the turn's end), if the session is
   * still the incarnation `incarnation`; none when it was deleted (a later session with the
   * same id has a history of its own). Reads only the tail it returns.
   */
  async historyTail(sessionId: string, length: number, max: number, incarnation = ''): Promise<ChatMessage[]> {
    if (length <= 0 || max <= 0) return [];
    const k = this.keys(sessionId);
    // One transaction (one slot): the incarnation read is the history's.
    const replies = await this.redis
      .multi()
      .hmget(k.meta, 'status', 'incarnation')
      .lrange(k.messages, Math.max(0, length - max), length - 1)
      .exec();
    const [status, live] = replies?.[0]?.[1] as (string | null)[];
    if (!status || (live ?? '') !== incarnation) return [];
    return (replies?.[1]?.[1] as string[]).map(decodeMessage);
  }

  /** Adds a delivery, its record and its body, unless one with its id exists; true when added. */
  async add(delivery: Delivery): Promise<boolean> {
    return (await this.write(withoutBody(delivery), delivery.body, 'add')) === 1;
  }

  /**
   * Rewrites a delivery's record (an attempt, a redelivery), never its body; false when the
   * delivery is no longer logged (trimmed or expired meanwhile): nothing is written back.
   */
  async save(delivery: DeliveryRecord): Promise<boolean> {
    return (await this.write(withoutBody(delivery), '', 'update')) === 1;
  }

  private write(record: DeliveryRecord, body: string, mode: 'add' | 'update' | 'body'): Promise<unknown> {
    const k = this.keys(record.session_id);
    return callScript(
      this.redis,
      'saveDelivery',
      [k.meta, k.deliveries, k.deliveriesAt, k.deliveryBodies],
      [record.id, JSON.stringify(record), body, mode, Date.parse(record.created_at) || 0, this.now(), this.limits.maxPerSession, this.limits.maxAgeMs],
    );
  }

  /** A delivery with its body (what a worker sends); null when it is not logged, or has no body. */
  async get(sessionId: string, deliveryId: string): Promise<Delivery | null> {
    const k = this.keys(sessionId);
    // One transaction (one slot): the record and its body as of the same moment.
    const replies = await this.redis.multi().hget(k.deliveries, deliveryId).hget(k.deliveryBodies, deliveryId).exec();
    const raw = replies?.[0]?.[1] as string | null;
    if (!raw) return null;
    const stored = JSON.parse(raw) as DeliveryRecord & { body?: string };
    const body = (replies?.[1]?.[1] as string | null) ?? stored.body;
    if (body === undefined) return null;
    const record = withoutBody(stored);
    // Written before bodies were kept apart: its body is stored apart too (the record's next update drops its own).
    if (stored.body !== undefined) await this.write(record, body, 'body');
    return { ...record, body };
  }

  /** A delivery's record, without its body (what the API shows). */
  async record(sessionId: string, deliveryId: string): Promise<DeliveryRecord | null> {
    const raw = await this.redis.hget(this.keys(sessionId).deliveries, deliveryId);
    return raw ? withoutBody(JSON.parse(raw) as DeliveryRecord) : null;
  }

  /**
   * A session's deliveries, oldest first, without their bodies: those of its current
   * incarnation only (the log of a deleted session with the same id is kept a day, and stays
   * in the same hash).
   */
  async list(sessionId: string): Promise<DeliveryRecord[]> {
    const k = this.keys(sessionId);
    const replies = await this.redis.multi().hget(k.meta, 'incarnation').hvals(k.deliveries).exec();
    const incarnation = (replies?.[0]?.[1] as string | null) ?? '';
    const raws = replies?.[1]?.[1] as string[];
    return raws
      .map((raw) => withoutBody(JSON.parse(raw) as DeliveryRecord))
      .filter((d) => (d.incarnation ?? '') === incarnation)
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  /** Into the server's dead letters, and its tenant's; each list keeps its newest `maxDeadLetters`. */
  async addDeadLetter(delivery: Pick<DeliveryRecord, 'session_id' | 'id' | 'tenant'>, at = this.now()): Promise<void> {
    const member = `${delivery.session_id}/${delivery.id}`;
    const max = this.limits.maxDeadLetters;
    await Promise.all(
      this.deadLetterKeys(delivery.tenant).map(async (key) => {
        // One key per transaction: one slot on a cluster.
        const tx = this.redis.multi().zadd(key, at, member);
        if (max > 0) tx.zremrangebyrank(key, 0, -(max + 1));
        await tx.exec();
      }),
    );
  }

  async removeDeadLetter(delivery: Pick<DeliveryRecord, 'session_id' | 'id' | 'tenant'>): Promise<void> {
    const member = `${delivery.session_id}/${delivery.id}`;
    await Promise.all(this.deadLetterKeys(delivery.tenant).map((key) => this.redis.zrem(key, member)));
  }

  private deadLetterKeys(tenant = ''): string[] {
    return tenant ? [this.global.deadLetters, this.global.tenantDeadLetters(tenant)] : [this.global.deadLetters];
  }

  /** Dead letters, newest first: all of them, or one tenant's. */
  async deadLetters(limit: number, tenant = ''): Promise<DeadLetter[]> {
    const key = tenant ? this.global.tenantDeadLetters(tenant) : this.global.deadLetters;
    const flat = await this.redis.zrevrange(key, 0, limit - 1, 'WITHSCORES');
    const out: DeadLetter[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const [sessionId, deliveryId] = (flat[i] as string).split('/') as [string, string];
      out.push({ session_id: sessionId, delivery_id: deliveryId, dead_at: new Date(Number(flat[i + 1])).toISOString() });
    }
    return out;
  }
}
