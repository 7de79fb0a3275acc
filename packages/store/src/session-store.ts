import { createHash, randomUUID } from 'node:crypto';
import { type RedisClient, isRedisFull } from './connections.ts';
import {
  type ChatMessage,
  type SessionStatus,
  type SessionView,
  type WebhookSpec,
  type BusyPolicy,
  globalKeys,
  keySlot,
  sessionKeys,
  type GlobalKeys,
  type TurnEventType,
  type InterruptInfo,
} from '@baton/core';
import { type MessageMeta, decodeMessage, decodeStored, encodeMessage } from './message-record.ts';
import { callScript, defineScripts } from './scripts.ts';
import { DEFAULT_STREAM_TTL_MS, SessionStreams } from './session-stream.ts';
import { TurnSteps } from './turn-steps.ts';
import { inOrder } from './in-order.ts';
import { HistoryCache, readListChunked } from './history-cache.ts';
import { type TimelinePage, readTimelinePage } from './timeline-page.ts';
import { type TimelineCounts, type TimelineWalk, type WalkMark, type WalkOrder, openTimelineWalk, readTimelineCounts } from './timeline-walk.ts';
import { WalkMarks } from './walk-marks.ts';
import { SessionExpiry, indexMember } from './session-expiry.ts';
import { RunningIndex } from './running-index.ts';
import { toView, withPolicy } from './session-view.ts';

const DAY_MS = 86_400_000;

export interface StoreOptions {
  /** Key prefix; every key Baton writes starts with it. */
  prefix: string;
  /** How long after a turn is accepted the reaper first checks that its job exists (ms). */
  runningGraceMs: number;
  /** True when server-wide webhook endpoints want every turn's end (not only turns with a webhook). */
  notifyAll?: boolean;
  /** How long a session's event stream outlives its newest event (ms; default 10 minutes). */
  streamTtlMs?: number;
  /** The most messages (history + queued) a session may hold; a new one beyond is refused. 0 or unset: no cap. */
  maxMessages?: number;
  /** How long a message's Idempotency-Key record is kept (ms; default 24 hours; never longer than `sessionTtlMs`). */
  requestTtlMs?: number;
  /**
   * SESSION_TTL_S in ms: sessions made now expire after being idle this long (no turn running,
   * queued or waiting for a person). Unset or 0: they never do.
   */
  sessionTtlMs?: number;
  /** Bytes of session histories a worker keeps between turns (HISTORY_CACHE_MB; default 64 MiB; 0: none). */
  historyCacheBytes?: number;
  now?: () => number;
}

export type SubmitResult =
  | { kind: 'started'; turnId: string }
  /** `runningTurnId` is '' when the message waits because the session is paused. */
  | { kind: 'queued'; turnId: string; runningTurnId: string }
  /** `if_busy: "interrupt"`: queued, and the running turn `cancelledTurnId` is being cancelled. */
  /** `startedTurnId`: a turn that waited for a person ended at once, and this queued turn started (queue its job). */
  | { kind: 'interrupting'; turnId: string; cancelledTurnId: string; startedTurnId?: string }
  /** `status`: `running`, or `interrupted` when the turn waits for a person. */
  | { kind: 'busy'; status: SessionStatus }
  /** `reused`: the request's Idempotency-Key came with a different request before. */
  | { kind: 'paused' | 'archived' | 'not_found' | 'full' | 'reused' };

/**
 * A request's `Idempotency-Key` and its fingerprint (method, path and body). The turn it
 * started is recorded with it, in the same script, so a retry of a request whose answer
 * was lost gets that turn back instead of adding another.
 */
export interface RequestKey {
  key: string;
  fingerprint: string;
}

export type ClaimResult =
  | {
      kind: 'ok';
      fence: string;
      agent: string;
      /** A cancel was asked for before the claim; finish it as cancelled. */
      cancelled: boolean;
      history: ChatMessage[];
      /** How many steps of the turn are recorded (by any worker): the next step's index. */
      steps: number;
      /** Index in `history` of the turn's first step message (= history length before the turn's steps). */
      turnStart: number;
      /** The `user_params` of the message that started the turn, if any. */
      userParams?: Record<string, unknown>;
      /** Set after a resume until a step is recorded: the interrupt and the person's answer. */
      resume?: { interrupt: InterruptInfo; value: unknown };
      /** Turn-end events wait in the outbox (a waiting turn ended by a cancel): flush them. */
      outboxPending: boolean;
      /** The session's agent settings, as stored at create (`{}` when none). */
      config: Record<string, unknown>;
    }
  | { kind: 'stale' | 'gone' };

/** One entry of a session's timeline: a history message or a queued one. */
export interface TimelineEntry {
  /** Position: history index, then queued messages after the history. */
  seq: number;
  message: ChatMessage;
  meta: MessageMeta | null;
  /** `queued` (inbox), `processing` (the running turn's message), or how its turn ended. */
  status: 'completed' | 'processing' | 'queued' | 'failed' | 'canceled';
}

export type TurnOutcome = { ok: true; reply: ChatMessage } | { ok: false; error: string; cancelled?: boolean };

export type FinishResult =
  /**
   * `notify`: the turn-end event went to the outbox (some webhook wants it). `cancelled`: the
   * turn ended as cancelled because its cancel was recorded, though the outcome given was not.
   */
  | { kind: 'ok'; status: SessionStatus; notify: boolean; nextTurnId: string | null; cancelled: boolean }
  | { kind: 'stale' | 'gone' };


/** A session id and the incarnation it has (or will have) under that id. */
export interface SessionIncarnation {
  sessionId: string;
  incarnation: string;
}

/** A fresh incarnation id: what tells a session from an earlier, deleted one with the same id. */
export function newIncarnation(): string {
  return randomUUID();
}


/**
 * All reads and writes of session state. Each state change is one Lua script over the
 * keys of a single session (one cluster slot); the global indexes are touched by
 * separate commands, ordered so that a crash between them is repaired by the reaper
 * (on one Redis server, submit writes the reaper's index in its own script).
 */
export class SessionStore {
  readonly keys: GlobalKeys;
  /** The sessions' event streams (SSE), written by these scripts and by workers' deltas. */
  readonly streams: SessionStreams;
  /** Steps of multi-step turns, interrupts and resumes. */
  readonly steps: TurnSteps;
  /** Where clients' walks of timelines resume (OpenHands event pages). */
  readonly marks: WalkMarks;
  private readonly now: () => number;
  private readonly streamTtlMs: number;
  /** On a cluster a script cannot reach the global indexes (other slots). */
  private readonly isCluster: boolean;
  /** The histories of sessions this process claimed turns of: a claim reads only what is new. */
  readonly history: HistoryCache;
  /** Idle sessions' expiry (SESSION_TTL_S): what the reaper releases once one is gone. */
  readonly expiry: SessionExpiry;
  /** The reaper's index of sessions with work under way, and its reads of them. */
  readonly running: RunningIndex;
  /** How long Idempotency-Key records naming a session are kept (ms): never longer than an idle session. */
  private readonly requestTtlMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: StoreOptions,
  ) {
    defineScripts(redis);
    this.keys = globalKeys(options.prefix);
    this.now = options.now ?? Date.now;
    this.isCluster = Boolean((redis as { isCluster?: boolean }).isCluster);
    this.streamTtlMs = options.streamTtlMs ?? DEFAULT_STREAM_TTL_MS;
    this.streams = new SessionStreams(redis, { prefix: options.prefix, ttlMs: this.streamTtlMs });
    this.history = new HistoryCache(options.historyCacheBytes);
    this.steps = new TurnSteps(redis, { ...options, now: this.now, streamTtlMs: this.streamTtlMs });
    this.marks = new WalkMarks(redis, options.prefix);
    this.expiry = new SessionExpiry(redis, options.prefix, this.now);
    this.running = new RunningIndex(redis, { prefix: options.prefix, runningGraceMs: options.runningGraceMs, now: this.now });
    const sessionTtlMs = options.sessionTtlMs ?? 0;
    this.requestTtlMs = Math.min(options.requestTtlMs ?? DAY_MS, sessionTtlMs > 0 ? sessionTtlMs : Infinity);
  }

  sessionKeys(sessionId: string) {
    return sessionKeys(this.options.prefix, sessionId);
  }

  /**
   * Returns false when a session with that id exists already. With `sessionTtlMs` the session
   * expires once idle that long; the reaper's look at it is scheduled before it is made (so it
   * is never missed) and again after (so a reaper that just dropped a stale entry of this id
   * does not leave the new session without one).
   */
  async create(input: {
    sessionId: string;
    agent: string;
    tenant: string;
    state: ChatMessage[];
    webhook?: WebhookSpec | null;
    /** Surface-specific attributes (a title, a sandbox id...), kept as given. */
    attributes?: Record<string, string>;
    /** This session's incarnation id (`newIncarnation()`; default a fresh one). */
    incarnation?: string;
    /** The agent's settings (validated by the caller); given to the agent on every step. */
    config?: Record<string, unknown>;
  }): Promise<boolean> {
    const now = this.now();
    const k = this.sessionKeys(input.sessionId);
    const ttl = this.options.sessionTtlMs ?? 0;
    // Index first: a listing skips ids whose session is missing, never the reverse.
    const member = indexMember(now, input.sessionId);
    const state = input.state.map((m) => encodeMessage(m, { at: now }));
    const webhook = input.webhook ? JSON.stringify(input.webhook) : '';
    const attrs = input.attributes && Object.keys(input.attributes).length ? JSON.stringify(input.attributes) : '';
    const config = input.config && Object.keys(input.config).length ? JSON.stringify(input.config) : '';
    // A tenant's sessions are in its own index too (what it lists and counts).
    const indexes = input.tenant ? [this.keys.sessionIndex, this.keys.tenantSessions(input.tenant)] : [this.keys.sessionIndex];
    const replies = await inOrder(this.redis, [
      ...indexes.map((index) => () => this.redis.zadd(index, 'NX', 0, member)),
      ...(ttl > 0 ? [() => this.expiry.schedule(input.sessionId, now + ttl)] : []),
      () =>
        callScript(this.redis, 'create', [k.meta, k.messages, k.deliveries, k.inbox, k.turns, k.stream, k.expiry, k.deliveriesAt, k.deliveryBodies, k.early], [
          now,
          input.agent,
          input.tenant,
          webhook,
          attrs,
          input.incarnation ?? newIncarnation(),
          config,
          ttl,
          ...state,
        ]),
    ]).catch(async (err: unknown) => {
      // Redis filled up (OOM) between the index entries and the session: take the entries
      // back (ZREM is allowed at maxmemory), so a count or listing holds no trace of it.
      if (isRedisFull(err)) await Promise.all(indexes.map((index) => this.redis.zrem(index, member))).catch(() => undefined);
      throw err;
    });
    const [made, expiredCreated, expiredTenant, expiredBytes] = replies[replies.length - 1] as [number, string?, string?, string?];
    if (made !== 1) {
      await Promise.all(indexes.filter((_, i) => replies[i] === 1).map((index) => this.redis.zrem(index, member)));
      return false;
    }
    // An expired session with this id whose index entries and bytes were not yet released: now they are.
    if (expiredCreated !== undefined) {
      await this.expiry.release(input.sessionId, { created: Number(expiredCreated), tenant: expiredTenant ?? '', bytes: Number(expiredBytes ?? 0) });
    }
    if (ttl > 0) await this.expiry.schedule(input.sessionId, now + ttl);
    return true;
  }

  /**
   * The id (and incarnation) a session created under this Idempotency-Key gets: `proposed`
   * the first time, recorded before the session is made, so a retry of a create whose answer
   * was lost finds the session its first try made instead of making another. The incarnation
   * tells that session from a later one with the same id (made after a DELETE). Null when
   * the key came with a different request.
   */
  async sessionIdFor(tenant: string, request: RequestKey, proposed: SessionIncarnation): Promise<SessionIncarnation | null> {
    const digest = createHash('sha256').update(request.key).digest('base64url');
    const key = `${this.options.prefix}:idem:${tenant || '-'}:${digest}:session`;
    const value = `${request.fingerprint}\n${proposed.sessionId}\n${proposed.incarnation}`;
    // A resent SET after a lost reply finds its own value: the same id either way.
    const set = await this.redis.set(key, value, 'PX', this.requestTtlMs, 'NX');
    const stored = set === 'OK' ? value : await this.redis.get(key);
    if (stored === null) return proposed; // expired in between: nothing to find
    // Records written before incarnations have none: '' (as sessions made then).
    const [fingerprint, sessionId, incarnation = ''] = stored.split('\n') as [string, string, string?];
    return fingerprint === request.fingerprint ? { sessionId, incarnation } : null;
  }

  /** A session's incarnation id ('' for sessions made before incarnations), or null when it does not exist. */
  async incarnation(sessionId: string): Promise<string | null> {
    const [status, incarnation] = await this.redis.hmget(this.sessionKeys(sessionId).meta, 'status', 'incarnation');
    return status ? (incarnation ?? '') : null;
  }

  /** Takes back the id `sessionIdFor` recorded for `proposed`, when making that session failed (Redis full). */
  async forgetSessionId(tenant: string, request: RequestKey, proposed: SessionIncarnation): Promise<void> {
    const digest = createHash('sha256').update(request.key).digest('base64url');
    const key = `${this.options.prefix}:idem:${tenant || '-'}:${digest}:session`;
    // `proposed` holds this request's own random incarnation: a record holding it is this request's.
    const own = `${request.fingerprint}\n${proposed.sessionId}\n${proposed.incarnation}`;
    if ((await this.redis.get(key)) === own) await this.redis.del(key);
  }

  /** How many sessions there are: all of them, or one tenant's. */

  async count(tenant = ''): Promise<number> {
    return this.redis.zcard(tenant ? this.keys.tenantSessions(tenant) : this.keys.sessionIndex);
  }

  /** The tenant owning a session ('' when created without auth), or null when it does not exist. */
  async tenantOf(sessionId: string): Promise<string | null> {
    const [status, tenant] = await this.redis.hmget(this.sessionKeys(sessionId).meta, 'status', 'tenant');
    return status ? (tenant ?? '') : null;
  }

  async get(sessionId: string): Promise<SessionView | null> {
    const k = this.sessionKeys(sessionId);
    const raw = (await callScript(this.redis, 'read', [k.meta, k.messages, k.inbox], [])) as (string | number | null)[] | null;
    return raw ? toView(sessionId, raw) : null;
  }

  /** The whole history, read in bounded chunks (no single command returns more than ~500 messages or ~1 MiB). */
  async messages(sessionId: string): Promise<ChatMessage[] | null> {
    const page = await this.messagesPage(sessionId, 0, 0);
    if (!page) return null;
    // Up to the length seen now: messages added meanwhile are left for a later read.
    const list = await readListChunked(this.redis, this.sessionKeys(sessionId).messages, 0, page.total);
    return list.map(decodeMessage);
  }

  /**
   * History messages `from` to `from + limit - 1` (one range read) and the history's length.
   * A history only grows while its session lives, so positions are stable cursors: walking the
   * pages sees every message once, those added meanwhile included.
   */
  async messagesPage(sessionId: string, from: number, limit: number): Promise<{ items: ChatMessage[]; total: number } | null> {
    const k = this.sessionKeys(sessionId);
    const tx = this.redis.multi().exists(k.meta).llen(k.messages);
    if (limit > 0) tx.lrange(k.messages, from, from + limit - 1);
    const replies = (await tx.exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    if (!replies[0]?.[1]) return null;
    const list = (replies[2]?.[1] as string[] | undefined) ?? [];
    return { items: list.map(decodeMessage), total: Number(replies[1]?.[1]) };
  }

  /**
   * Sessions in creation order (`newest`: the reverse), `limit` at a time; `cursor` is the last
   * item's cursor (`listCursor`). A page may hold fewer items when sessions were deleted meanwhile.
   */
  async list(
    limit: number,
    cursor?: string,
    tenant = '',
    order: 'oldest' | 'newest' = 'oldest',
  ): Promise<{ items: SessionView[]; nextCursor: string | null }> {
    const index = tenant ? this.keys.tenantSessions(tenant) : this.keys.sessionIndex;
    const members =
      order === 'newest'
        ? await this.redis.zrevrangebylex(index, cursor ? `(${cursor}` : '+', '-', 'LIMIT', 0, limit)
        : await this.redis.zrangebylex(index, cursor ? `(${cursor}` : '-', '+', 'LIMIT', 0, limit);
    // One read per session, sent together (a cluster routes each to its session's node).
    const rows = await Promise.all(
      members.map((member) => {
        const k = this.sessionKeys(member.slice(14));
        return callScript(this.redis, 'read', [k.meta, k.messages, k.inbox], []).catch(() => null);
      }),
    );
    const items: SessionView[] = [];
    rows.forEach((raw, i) => {
      if (raw) items.push(toView((members[i] as string).slice(14), raw as (string | number | null)[]));
    });
    const last = members[members.length - 1];
    return { items, nextCursor: members.length === limit && last ? last : null };
  }

  /** `message: null` starts a turn on the history as it is. */
  async submit(input: {
    sessionId: string;
    turnId: string;
    message: ChatMessage | null;
    webhook: WebhookSpec | null;
    policy: BusyPolicy;
    clientId?: string;
    /** The caller's tenant: another tenant's session is `not_found`. */
    tenant?: string;
    request?: RequestKey;
  }): Promise<SubmitResult> {
    const now = this.now();
    const k = this.sessionKeys(input.sessionId);
    const meta: MessageMeta = { at: now, turn: input.turnId };
    if (input.clientId !== undefined) meta.client_id = input.clientId;
    const messageJson = input.message ? encodeMessage(input.message, meta) : '';
    const webhookJson = input.webhook ? JSON.stringify(input.webhook) : '';
    const inboxRecord = `${input.turnId}\n${now}\n${webhookJson}\n${messageJson}`;
    const request = input.request ? createHash('sha256').update(input.request.key).digest('base64url') : '';
    const keys = [k.meta, k.messages, k.inbox, k.events, k.stream, `${k.meta}:request:${request}`, k.outbox, k.turns, k.expiry, k.early];
    const args = [
      input.turnId,
      now,
      input.policy,
      webhookJson,
      messageJson,
      inboxRecord,
      this.streamTtlMs,
      input.tenant ?? '',
      this.options.maxMessages ?? 0,
      input.request?.fingerprint ?? '',
      this.requestTtlMs,
    ];
    const checkAt = now + this.options.runningGraceMs;
    // The reaper's running-index entry is written with the turn, so if this process dies
    // before the enqueue the reaper still finds it: inside the script on one Redis server,
    // just before it on a cluster (where the index is in another slot).
    const reply = this.isCluster
      ? (await callScript(this.redis, 'markRunning', [this.keys.running], [input.sessionId, checkAt]),
        await callScript(this.redis, 'submit', keys, args))
      : await callScript(this.redis, 'submitMarked', [...keys, this.keys.running], [...args, input.sessionId, checkAt]);
    // The turn id is this call's, or the one a retry under the same Idempotency-Key started.
    const [kind, other, turnId, started] = reply as [string, string | undefined, string | undefined, string | undefined];
    if (kind === 'started') return { kind, turnId: turnId as string };
    if (kind === 'queued') return { kind, turnId: turnId as string, runningTurnId: other ?? '' };
    if (kind === 'interrupting') {
      // A running turn's worker is told to stop; a waiting one (`started` is set) ended in the script.
      if (started === undefined) await this.redis.publish(this.keys.cancel, `${input.sessionId}\n${other}`);
      return { kind, turnId: turnId as string, cancelledTurnId: other as string, ...(started ? { startedTurnId: started } : {}) };
    }
    if (kind === 'busy') return { kind, status: (other ?? 'running') as SessionStatus };
    return { kind: kind as 'paused' | 'archived' | 'not_found' | 'full' | 'reused' };
  }

  /** Adds a message to the history without starting a turn. */
  async append(sessionId: string, message: ChatMessage, clientId?: string): Promise<'ok' | 'not_found' | 'archived' | 'full'> {
    const now = this.now();
    const k = this.sessionKeys(sessionId);
    const meta: MessageMeta = clientId === undefined ? { at: now } : { at: now, client_id: clientId };
    return (await callScript(this.redis, 'append', [k.meta, k.messages, k.events, k.inbox, k.turns, k.stream, k.expiry, k.early], [
      encodeMessage(message, meta),
      now,
      this.options.maxMessages ?? 0,
    ])) as 'ok' | 'not_found' | 'archived' | 'full';
  }

  /** Sets surface attributes (null clears one); another tenant's session is not found. */
  async setAttributes(sessionId: string, attributes: Record<string, string | null>, tenant = ''): Promise<'ok' | 'not_found' | 'archived'> {
    const patch = Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, v ?? false]));
    const k = this.sessionKeys(sessionId);
    return (await callScript(this.redis, 'setAttributes', [k.meta], [JSON.stringify(patch), this.now(), tenant])) as 'ok' | 'not_found' | 'archived';
  }

  async pause(sessionId: string): Promise<'ok' | 'not_found'> {
    const k = this.sessionKeys(sessionId);
    const [kind] = (await callScript(this.redis, 'pause', [k.meta, k.messages, k.inbox, k.events, k.stream, k.early], ['pause', this.now(), this.streamTtlMs])) as string[];
    return kind as 'ok' | 'not_found';
  }

  /**
   * Lifts a pause, starting the first queued message if the session is idle. Returns the
   * running turn, if any (started now, or before): the caller makes sure its job is queued.
   */
  async resume(sessionId: string): Promise<{ kind: 'ok'; runningTurnId: string | null } | { kind: 'not_found' | 'archived' }> {
    const now = this.now();
    const k = this.sessionKeys(sessionId);
    // As in submit: the reaper's entry first, in case this process dies before enqueueing.
    const [, reply] = await inOrder(this.redis, [
      () => callScript(this.redis, 'markRunning', [this.keys.running], [sessionId, now + this.options.runningGraceMs]),
      () => callScript(this.redis, 'pause', [k.meta, k.messages, k.inbox, k.events, k.stream, k.early], ['resume', now, this.streamTtlMs]),
    ]);
    const [kind, turnId] = reply as [string, string | undefined];
    if (kind !== 'ok') return { kind: kind as 'not_found' | 'archived' };
    return { kind: 'ok', runningTurnId: turnId ?? null };
  }

  /**
   * Cancels the running turn (the worker running it aborts its agent; it ends as
   * `Turn cancelled`). `archive` also makes the session read-only for good.
   */
  async cancel(
    sessionId: string,
    mode: 'cancel' | 'archive' = 'cancel',
  ): Promise<{ kind: 'cancelling'; turnId: string } | { kind: 'ended'; turnId: string; startedTurnId: string | null } | { kind: 'idle' | 'not_found' }> {
    const now = this.now();
    const k = this.sessionKeys(sessionId);
    // A turn waiting for a person ends in the script, its event in the outbox, and archiving
    // ends the queued turns: the reaper's entry, due now, is written first so a worker
    // delivers their events even if this process dies next.
    const [, reply] = await inOrder(this.redis, [
      () => callScript(this.redis, 'markRunning', [this.keys.running], [sessionId, now]),
      () => callScript(this.redis, 'cancel', [k.meta, k.messages, k.inbox, k.events, k.outbox, k.turns, k.stream, k.expiry, k.early], [mode, now, this.streamTtlMs, randomUUID()]),
    ]);
    const [kind, turnId, started] = reply as string[];
    if (kind === 'ended') return { kind, turnId: turnId as string, startedTurnId: started || null };
    if (kind !== 'cancelling') return { kind: kind as 'idle' | 'not_found' };
    await this.redis.publish(this.keys.cancel, `${sessionId}\n${turnId}`);
    return { kind: 'cancelling', turnId: turnId as string };
  }

  /** One page of the timeline by range reads; see `readTimelinePage`. */
  timelinePage(sessionId: string, from: number, limit: number, lookahead = 0): Promise<TimelinePage | null> {
    return readTimelinePage(this.redis, this.sessionKeys(sessionId), from, limit, lookahead);
  }

  /** The timeline in time order from `from` (or its start), by range reads; see `TimelineWalk`. */
  timelineWalk(sessionId: string, order: WalkOrder, options: { from?: WalkMark; window?: number } = {}): Promise<TimelineWalk | 'unindexed' | null> {
    return openTimelineWalk(this.redis, this.sessionKeys(sessionId), order, options);
  }

  /** The timeline's entries, tool calls and turn errors, from its time index. */
  timelineCounts(sessionId: string): Promise<TimelineCounts | 'unindexed' | null> {
    return readTimelineCounts(this.redis, this.sessionKeys(sessionId));
  }

  /** History and queued messages with their metadata and status, oldest first. */
  async timeline(sessionId: string): Promise<TimelineEntry[] | null> {
    const k = this.sessionKeys(sessionId);
    // Separate reads of one session: a turn may end between them; a timeline is a snapshot
    // good enough for display (statuses catch up on the next read).
    const [[status, runningTurn], history, inbox, outcomes] = await Promise.all([
      this.redis.hmget(k.meta, 'status', 'turn_id'),
      // In bounded chunks: a long history never makes one big command.
      this.redis.llen(k.messages).then((length) => readListChunked(this.redis, k.messages, 0, length)),
      this.redis.lrange(k.inbox, 0, -1),
      this.redis.hgetall(k.turns),
    ]);
    if (!status) return null;
    const entries: TimelineEntry[] = history.map((raw, seq) => {
      const { message, meta } = decodeStored(raw);
      const turn = meta?.turn;
      let entryStatus: TimelineEntry['status'] = 'completed';
      if (turn && status === 'running' && turn === runningTurn && message.role !== 'assistant') entryStatus = 'processing';
      else if (turn && outcomes[turn]) entryStatus = outcomes[turn] as 'failed' | 'canceled';
      return { seq, message, meta, status: entryStatus };
    });
    inbox.forEach((record, i) => {
      const parts = record.split('\n');
      const raw = parts.slice(3).join('\n');
      if (!raw) return;
      const { message, meta } = decodeStored(raw);
      entries.push({ seq: history.length + i, message, meta, status: 'queued' });
    });
    return entries;
  }

  /** `run`: the turn's resumes so far (0 until its first resume); each run has a job of its own. */
  async claim(sessionId: string, turnId: string, run = 0): Promise<ClaimResult> {
    const k = this.sessionKeys(sessionId);
    // The agent config is written once, at create: read beside the script, in the same round trip,
    // with the attributes (a confirmation policy set later overrides `confirm_tool_calls`).
    const [reply, [config, attrs]] = (await Promise.all([
      callScript(this.redis, 'claim', [k.meta, k.messages, k.outbox], [turnId, run]),
      this.redis.hmget(k.meta, 'config', 'attrs'),
    ])) as [(string | number)[], [string | null, string | null]];
    if (reply[0] !== 'ok') return { kind: reply[0] as 'stale' | 'gone' };
    // The script reads no history: the entries this process lacks are read now, in bounded chunks.
    const state = { length: Number(reply[7]), lastHash: String(reply[8] ?? ''), incarnation: String(reply[9] ?? '') };
    const stored = await this.history.read(this.redis, k.messages, sessionId, state);
    // The turn's step messages carry its id and their step; its own message only the id (and
    // comes before them): scanned from the end, the turn's entries are the last ones.
    let turnStart = stored.length;
    let own: ChatMessage | undefined;
    for (let i = stored.length - 1; i >= 0; i--) {
      const meta = stored[i]?.meta;
      if (meta?.turn !== turnId) continue;
      if (meta.step !== undefined) turnStart = i;
      else {
        own = stored[i]?.message;
        break;
      }
    }
    const resume = reply[5] ? (JSON.parse(reply[5] as string) as { interrupt: InterruptInfo; value: unknown }) : undefined;
    return {
      kind: 'ok',
      fence: reply[1] as string,
      agent: reply[2] as string,
      cancelled: reply[3] === '1',
      steps: Number(reply[4]),
      // Copies: the cached messages are not the agent's to change.
      history: stored.map(({ message }) => ({ ...message })),
      turnStart,
      ...(own?.user_params ? { userParams: own.user_params } : {}),
      ...(resume ? { resume } : {}),
      outboxPending: Number(reply[6]) > 0,
      config: withPolicy(config ? (JSON.parse(config) as Record<string, unknown>) : {}, attrs),
    };
  }

  /** `fence: '*'` finishes regardless of claims (the reaper, for a job that is gone). */
  async finish(sessionId: string, turnId: string, fence: string, outcome: TurnOutcome): Promise<FinishResult> {
    const now = this.now();
    const k = this.sessionKeys(sessionId);
    const value = outcome.ok ? encodeMessage(outcome.reply, { at: now, turn: turnId }) : outcome.error;
    const type: TurnEventType = outcome.ok ? 'turn.completed' : outcome.cancelled ? 'turn.cancelled' : 'turn.failed';
    // The stream's `message` / `error` event.
    const event = JSON.stringify(outcome.ok ? { turn_id: turnId, message: outcome.reply } : { turn_id: turnId, error: outcome.error });
    const reply = (await callScript(this.redis, 'finish', [k.meta, k.messages, k.inbox, k.events, k.outbox, k.turns, k.stream, k.expiry, k.early], [
      turnId,
      fence,
      outcome.ok ? 'ok' : 'error',
      value,
      now,
      type,
      this.options.notifyAll ? '1' : '0',
      event,
      this.streamTtlMs,
    ])) as (string | number)[];
    if (reply[0] !== 'ok') return { kind: reply[0] as 'stale' | 'gone' };
    const nextTurnId = (reply[3] as string | undefined) || null;
    if (nextTurnId) await this.running.mark(sessionId, now);
    return { kind: 'ok', status: reply[1] as SessionStatus, notify: reply[2] === 1, nextTurnId, cancelled: reply[4] === 1 };
  }

  /** Returns the deleted session's last status and turn, or null if there was none. */
  async delete(sessionId: string): Promise<{ status: SessionStatus; turnId: string } | null> {
    const k = this.sessionKeys(sessionId);
    const keys = [k.meta, k.messages, k.inbox, k.events, k.outbox, k.deliveries, k.turns, k.stream, `${k.meta}:deleted`, k.expiry, k.deliveriesAt, k.deliveryBodies, k.early, k.marks];
    // The turns that waited (queued, or for a person) end as cancelled with no worker to deliver
    // their events: the reaper's entry, due now, is written first (it flushes the outbox of a
    // deleted session).
    const now = this.now();
    const [, deleted] = await inOrder(this.redis, [
      // A full Redis refuses the entry (a write that grows memory) but still runs the delete,
      // which frees memory: the delete goes on, and a waiting turn's event waits for the reaper's next mark.
      () => callScript(this.redis, 'markRunning', [this.keys.running], [sessionId, now]).catch((err: unknown) => {
        if (!isRedisFull(err)) throw err;
      }),
      () => callScript(this.redis, 'delete', keys, [now, randomUUID()]),
    ]);
    const reply = deleted as [string, string, string, string] | null;
    if (!reply) return null;
    const [createdAt, status, turnId, tenant] = reply;
    const member = indexMember(Number(createdAt), sessionId);
    await Promise.all([
      this.redis.zrem(this.keys.sessionIndex, member),
      tenant ? this.redis.zrem(this.keys.tenantSessions(tenant), member) : null,
      // Workers running this session's turn abort it.
      status === 'running' ? this.redis.publish(this.keys.cancel, `${sessionId}\n${turnId}`) : null,
    ]);
    return { status: status as SessionStatus, turnId };
  }
}
