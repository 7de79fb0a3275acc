import { createHash } from 'node:crypto';
import type { RedisClient } from './connections.ts';
import { type MessageMeta, decodeStored } from './message-record.ts';
import type { ChatMessage } from '@baton/core';

/** A history entry as the worker keeps it: the message and Baton's notes on it. */
export interface StoredMessage {
  message: ChatMessage;
  meta: MessageMeta | null;
}

/** What a claim says of the history: enough to tell whether a cached copy is still the history. */
export interface HistoryState {
  /** The history's length at the claim. */
  length: number;
  /** SHA-1 (hex) of the last entry's stored JSON ('' when the history is empty). */
  lastHash: string;
  /** The session's incarnation (a session deleted and made again under its id has another). */
  incarnation: string;
}

/** Bounds on one range read: no single Redis command returns more than about this much. */
export interface ChunkLimits {
  /** Most entries per LRANGE (default 500). */
  messages: number;
  /** About the most bytes per LRANGE (default 1 MiB): the next chunk is shortened to fit. */
  bytes: number;
}

export const DEFAULT_CHUNK_LIMITS: ChunkLimits = { messages: 500, bytes: 1 << 20 };
/** HISTORY_CACHE_MB's default: 64 MiB of histories per worker process. */
export const DEFAULT_HISTORY_CACHE_BYTES = 64 << 20;

/**
 * Entries `from` to `to - 1` of a list, read in bounded LRANGE chunks outside any script
 * (each a short command: Redis serves other clients between them). Fewer come back when the
 * list is shorter (deleted meanwhile).
 */
export async function readListChunked(
  redis: RedisClient,
  key: string,
  from: number,
  to: number,
  limits: ChunkLimits = DEFAULT_CHUNK_LIMITS,
): Promise<string[]> {
  const out: string[] = [];
  let count = limits.messages;
  for (let start = from; start < to; ) {
    const end = Math.min(to, start + count) - 1;
    const chunk = await redis.lrange(key, start, end);
    for (const raw of chunk) out.push(raw);
    if (chunk.length < end - start + 1) break;
    start = end + 1;
    // Big entries: shorten the next chunk so it stays near the byte bound.
    const bytes = chunk.reduce((sum, raw) => sum + raw.length, 0);
    count = bytes > limits.bytes ? Math.max(1, Math.floor((chunk.length * limits.bytes) / bytes)) : limits.messages;
  }
  return out;
}

export function sha1Hex(raw: string): string {
  return createHash('sha1').update(raw).digest('hex');
}

interface Entry {
  incarnation: string;
  stored: StoredMessage[];
  /** The stored JSON's size (what the cache's bound counts). */
  bytes: number;
  lastHash: string;
}

/**
 * A worker's copies of the histories of the sessions whose turns it ran, so a claim reads no
 * history in Redis: a turn reads only the entries recorded since (by any worker: a turn taken
 * over sees the steps another worker recorded), in bounded chunks. A copy is used only when the
 * claim's history is as long or longer, of the same incarnation, and its last entry's hash is
 * the claim's (a history only grows while its session lives); otherwise the whole history is
 * read again, in chunks. Copies are dropped least recently used first past `maxBytes`
 * (HISTORY_CACHE_MB; 0: no copies kept, every turn reads its whole history in chunks).
 */
export class HistoryCache {
  private readonly entries = new Map<string, Entry>();
  private total = 0;
  /** What the cache did (tests and the bench read it). */
  readonly stats = { hits: 0, misses: 0, entriesRead: 0 };

  constructor(
    private readonly maxBytes: number = DEFAULT_HISTORY_CACHE_BYTES,
    private readonly limits: ChunkLimits = DEFAULT_CHUNK_LIMITS,
  ) {}

  /** Bytes of history held (the stored JSON's size). */
  get bytes(): number {
    return this.total;
  }

  /** The session's history as the claim saw it (`state.length` entries). */
  async read(redis: RedisClient, key: string, sessionId: string, state: HistoryState): Promise<StoredMessage[]> {
    const cached = this.entries.get(sessionId);
    const usable = cached && cached.incarnation === state.incarnation && cached.stored.length <= state.length ? cached : undefined;
    if (usable) {
      const tail = await readListChunked(redis, key, usable.stored.length, state.length, this.limits);
      const lastHash = tail.length ? sha1Hex(tail[tail.length - 1] as string) : usable.lastHash;
      if (usable.stored.length + tail.length === state.length && lastHash === state.lastHash) {
        this.stats.hits++;
        this.stats.entriesRead += tail.length;
        const stored = tail.length ? usable.stored.concat(tail.map(decodeStored)) : usable.stored;
        this.keep(sessionId, { incarnation: state.incarnation, stored, bytes: usable.bytes + size(tail), lastHash });
        return stored;
      }
    }
    // No copy, or one that is not this history's beginning: read it all, in chunks.
    this.stats.misses++;
    const raws = await readListChunked(redis, key, 0, state.length, this.limits);
    this.stats.entriesRead += raws.length;
    const stored = raws.map(decodeStored);
    const lastHash = raws.length ? sha1Hex(raws[raws.length - 1] as string) : '';
    // A history that changed since the claim (deleted meanwhile) is not kept; the turn's writes are refused anyway.
    if (raws.length === state.length && lastHash === state.lastHash) {
      this.keep(sessionId, { incarnation: state.incarnation, stored, bytes: size(raws), lastHash });
    } else this.drop(sessionId);
    return stored;
  }

  /** Forgets a session's copy. */
  drop(sessionId: string): void {
    const old = this.entries.get(sessionId);
    if (!old) return;
    this.entries.delete(sessionId);
    this.total -= old.bytes;
  }

  private keep(sessionId: string, entry: Entry): void {
    this.drop(sessionId);
    if (entry.bytes > this.maxBytes) return;
    // Map order is use order: the first entries are the least recently used.
    this.entries.set(sessionId, entry);
    this.total += entry.bytes;
    for (const [id, old] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(id);
      this.total -= old.bytes;
    }
  }
}

function size(raws: string[]): number {
  return raws.reduce((sum, raw) => sum + raw.length, 0);
}
