import { randomUUID } from 'node:crypto';
import type { SessionView } from '@baton/core';
import type { SessionStore, SessionWatcher, StreamEvent, Watch } from '@baton/store';
import { type ExecutionStatus, conversationInfo, executionStatus } from './conversation.ts';
import { type EventJson, timelineEvents } from './events.ts';

/** Stream entries read from Redis at a time. */
const BATCH = 500;

/** Which past events a socket sends before the live ones (`resend_mode`, `after_timestamp`). */
export type Resend = { mode: 'none' } | { mode: 'all' } | { mode: 'since'; after: number };

/** A frame the socket sends: an event as `events/search` gives it, or a state update. */
export type Frame = EventJson | StateUpdateJson;

export interface StateUpdateJson {
  kind: 'ConversationStateUpdateEvent';
  id: string;
  timestamp: string;
  source: 'environment';
  key: string;
  value: unknown;
}

export function stateUpdate(key: string, value: unknown): StateUpdateJson {
  return { kind: 'ConversationStateUpdateEvent', id: randomUUID(), timestamp: new Date().toISOString(), source: 'environment', key, value };
}

/**
 * What one `/sockets/events/{id}` socket sends, read from Redis as the SSE follower reads
 * it: subscribed to the session's `events` channel on the process's one subscriber
 * connection (no Redis connection per socket), woken at each state change, then reading
 * the session's stream after the last entry it handled (the order of status changes),
 * the session, and its timeline (the events, exactly as `events/search` maps them).
 *
 * Events are told apart by id: each is sent once, whichever read first sees it, so the
 * switch from past events to live ones has no gap (the subscription comes before the
 * first read) and no repeat.
 */
export class ConversationFeed {
  private readonly sent = new Set<string>();
  private cursor = '0-0';
  private createdAt = '';
  private status: ExecutionStatus | null = null;

  private constructor(
    private readonly store: SessionStore,
    private readonly watch: Watch,
    readonly sessionId: string,
  ) {}

  /**
   * Subscribes, then reads: null when the session is gone (nothing is held then).
   * `first` is the `full_state` update, then the past events `resend` asks for.
   */
  static async open(
    deps: { store: SessionStore; watcher: SessionWatcher },
    sessionId: string,
    resend: Resend,
  ): Promise<{ feed: ConversationFeed; first: Frame[] } | null> {
    const watch = await deps.watcher.watch(deps.store.sessionKeys(sessionId).events);
    const feed = new ConversationFeed(deps.store, watch, sessionId);
    try {
      const first = await feed.start(resend);
      if (first) return { feed, first };
    } catch (err) {
      watch.close();
      throw err;
    }
    watch.close();
    return null;
  }

  private async start(resend: Resend): Promise<Frame[] | null> {
    // The stream's newest entry first: a change after it is read on the next wake-up.
    const opened = await this.store.streams.open(this.sessionId, null, 1);
    if (!opened || opened.kind !== 'snapshot') return null;
    this.cursor = opened.event.id;
    this.createdAt = opened.createdAt;
    const read = await this.readSession();
    if (!read) return null;
    const { view, events } = read;
    this.status = executionStatus(view);
    const frames: Frame[] = [stateUpdate('full_state', conversationInfo(view))];
    for (const event of events) {
      this.sent.add(event.id);
      if (resend.mode === 'all' || (resend.mode === 'since' && Date.parse(event.timestamp) >= resend.after)) frames.push(event);
    }
    return frames;
  }

  /**
   * Waits for the next change (at most `timeoutMs`, or until `signal` aborts) and returns
   * what it brings: new events, then each execution status change and, after them, a
   * `full_state` update.
   * Null when the conversation was deleted.
   */
  async next(timeoutMs: number, signal: AbortSignal): Promise<Frame[] | null> {
    await this.watch.next(timeoutMs, signal);
    if (signal.aborted) return [];
    const statuses = await this.readStatuses();
    if (!statuses) return null;
    const read = await this.readSession();
    if (!read) return null;
    const frames: Frame[] = [];
    for (const event of read.events) {
      if (this.sent.has(event.id)) continue;
      this.sent.add(event.id);
      frames.push(event);
    }
    const before = this.status;
    // Each status the stream passed through, then the session as it is now (which also
    // knows of pauses, which the stream does not record).
    for (const status of [...statuses, executionStatus(read.view)]) {
      if (status === this.status) continue;
      this.status = status;
      frames.push(stateUpdate('execution_status', status));
    }
    // The whole state after a change: the Python SDK takes a non-running one as the end of
    // its run(), and the TypeScript client reads its cached state from the latest one.
    if (this.status !== before) frames.push(stateUpdate('full_state', conversationInfo(read.view)));
    return frames;
  }

  close(): void {
    this.watch.close();
  }

  /**
   * The execution statuses of the stream's status entries after the cursor, but the
   * last (the session read next supersedes it). Null when the session is gone, or was
   * deleted and created again under the same id.
   */
  private async readStatuses(): Promise<ExecutionStatus[] | null> {
    const entries: StreamEvent[] = [];
    for (;;) {
      const read = await this.store.streams.read(this.sessionId, this.cursor, BATCH);
      if (!read || read.createdAt !== this.createdAt) return null;
      for (const entry of read.events) if (entry.type !== 'delta') entries.push(entry);
      const last = read.events[read.events.length - 1];
      if (last) this.cursor = last.id;
      if (read.events.length < BATCH) break;
    }
    const statuses: ExecutionStatus[] = [];
    let replied = false;
    for (const entry of entries) {
      if (entry.type === 'message') replied = true;
      if (entry.type !== 'status') continue;
      const { status } = JSON.parse(entry.data) as { status: string };
      statuses.push(
        status === 'running' ? 'running' : status === 'error' ? 'error' : status === 'interrupted' ? 'waiting_for_confirmation' : replied ? 'finished' : 'idle',
      );
      replied = false;
    }
    statuses.pop();
    return statuses;
  }

  private async readSession(): Promise<{ view: SessionView; events: EventJson[] } | null> {
    const [view, entries] = await Promise.all([this.store.get(this.sessionId), this.store.timeline(this.sessionId)]);
    if (!view || !entries) return null;
    return { view, events: timelineEvents(view, entries) };
  }
}
