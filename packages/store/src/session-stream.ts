import { sessionKeys } from '@baton/core';
import type { RedisClient } from './connections.ts';
import { callScript, defineScripts } from './scripts.ts';

/** How long a session's event stream outlives its newest event, unless configured (ms). */
export const DEFAULT_STREAM_TTL_MS = 600_000;

export type StreamEventType = 'status' | 'delta' | 'message' | 'interrupted' | 'error';

/**
 * One entry of a session's event stream. `data` is JSON text:
 * - `status`: `{status, turn_id}` (a snapshot adds `snapshot: true`, and `resync: true` after a gap);
 * - `delta`: `{turn_id, content, offset}`, a piece of the running turn's reply, `offset` characters
 *   (code points) into it: a turn that runs again after a worker died streams again from 0;
 * - `message`: `{turn_id, message}`, the turn's reply (a ChatMessage);
 * - `error`: `{turn_id, error}`, why the turn failed.
 */
export interface StreamEvent {
  /** The stream entry id, `<ms>-<seq>`: increasing; a follower resumes after it. */
  id: string;
  type: StreamEventType;
  data: string;
}

/** Events read after an id; `more` when the byte limit cut the read short (more are waiting). */
export interface StreamRead {
  createdAt: string;
  events: StreamEvent[];
  more: boolean;
}

export type StreamOpen =
  /** The events after the id asked for. */
  | ({ kind: 'events' } & StreamRead)
  /**
   * The session's state as of the newest event (`event.id`): asked for with no id, or
   * (`resync`) when events after the id asked for are no longer kept.
   */
  | { kind: 'snapshot'; createdAt: string; event: StreamEvent; resync: boolean };

export interface StreamOptions {
  prefix: string;
  /** How long the stream outlives its newest event (ms). */
  ttlMs: number;
}

/**
 * A session's event stream (`GET /sessions/{id}/events`). The store's Lua scripts write
 * status changes and replies in the same step as the state change; workers add the
 * running turn's reply deltas here. Entry ids are Redis stream ids, so every API process
 * sees the same events under the same ids.
 */
export class SessionStreams {
  constructor(
    private readonly redis: RedisClient,
    private readonly options: StreamOptions,
  ) {
    defineScripts(redis);
  }

  /** The stream key, which is also the channel announcing its new entries. */
  channel(sessionId: string): string {
    return sessionKeys(this.options.prefix, sessionId).stream;
  }

  /**
   * Adds a piece of the running turn's reply. Returns the entry id, or null when the turn
   * is no longer the session's running turn under `fence` (nothing is written then).
   */
  async appendDelta(sessionId: string, turnId: string, fence: string, content: string, offset: number): Promise<string | null> {
    const k = sessionKeys(this.options.prefix, sessionId);
    const data = JSON.stringify({ turn_id: turnId, content, offset });
    const id = await callScript(this.redis, 'streamDelta', [k.meta, k.stream], [turnId, fence, data, this.options.ttlMs]);
    return (id as string | null) ?? null;
  }

  /**
   * Starts following: a snapshot when `after` is null (or its events are gone), else the
   * events after it (at most `count`, and at most `maxBytes` of event data unless the
   * first alone is larger; 0: no byte limit). Null when the session does not exist.
   */
  async open(sessionId: string, after: string | null, count = 500, maxBytes = 0): Promise<StreamOpen | null> {
    const reply = await this.call(sessionId, 'open', after ?? '', count, maxBytes);
    if (!reply) return null;
    if (reply[0] === 'entries' || reply[0] === 'more') return { kind: 'events', ...toRead(reply) };
    const [, createdAt, status, turnId, head, resync] = reply as string[];
    const data = { status, turn_id: turnId || null, snapshot: true, ...(resync ? { resync: true } : {}) };
    return {
      kind: 'snapshot',
      createdAt: createdAt as string,
      event: { id: head as string, type: 'status', data: JSON.stringify(data) },
      resync: Boolean(resync),
    };
  }

  /** The events after `after` (at most `count` and `maxBytes`, as `open`); null when the session does not exist. */
  async read(sessionId: string, after: string, count = 500, maxBytes = 0): Promise<StreamRead | null> {
    const reply = await this.call(sessionId, 'read', after, count, maxBytes);
    return reply ? toRead(reply) : null;
  }

  private async call(sessionId: string, mode: 'open' | 'read', after: string, count: number, maxBytes: number): Promise<unknown[] | null> {
    const k = sessionKeys(this.options.prefix, sessionId);
    return (await callScript(this.redis, 'streamRead', [k.meta, k.stream], [mode, after, count, maxBytes])) as unknown[] | null;
  }
}

function toRead(reply: unknown[]): StreamRead {
  return { createdAt: reply[1] as string, events: toEvents(reply.slice(2)), more: reply[0] === 'more' };
}

function toEvents(entries: unknown[]): StreamEvent[] {
  return entries.map((entry) => {
    const [id, fields] = entry as [string, string[]];
    const event: StreamEvent = { id, type: 'status', data: '{}' };
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === 'type') event.type = fields[i + 1] as StreamEventType;
      else if (fields[i] === 'data') event.data = fields[i + 1] as string;
    }
    return event;
  });
}

const STREAM_ID = /^(\d{1,20})(?:-(\d{1,20}))?$/;
const U64_MAX = 18446744073709551615n;

/** A Last-Event-ID as a full stream id (`5` → `5-0`), or null when it is not one. */
export function parseStreamId(text: string): string | null {
  const m = STREAM_ID.exec(text.trim());
  if (!m) return null;
  const ms = BigInt(m[1] as string);
  const seq = BigInt(m[2] ?? '0');
  if (ms > U64_MAX || seq > U64_MAX) return null;
  return `${ms}-${seq}`;
}

/** Orders stream ids: negative when `a` comes first. */
export function compareStreamIds(a: string, b: string): number {
  const [ams, aseq] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bms, bseq] = b.split('-').map(BigInt) as [bigint, bigint];
  if (ams !== bms) return ams < bms ? -1 : 1;
  return aseq === bseq ? 0 : aseq < bseq ? -1 : 1;
}
