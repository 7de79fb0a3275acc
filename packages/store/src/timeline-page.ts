import type { SessionKeys } from '@baton/core';
import type { RedisClient } from './connections.ts';
import { decodeStored } from './message-record.ts';
import { readListChunked } from './history-cache.ts';
import type { TimelineEntry } from './session-store.ts';

export interface TimelinePage {
  /** Entries `from` to `from + limit - 1` (history positions, then queued messages). */
  entries: TimelineEntry[];
  /** Up to `lookahead` entries after the page (a page's user messages are dated by their turn's reply). */
  after: TimelineEntry[];
  /** History plus queued messages at the read. */
  total: number;
}

/**
 * One page of a session's timeline by range reads (each bounded): the history positions it
 * covers, then the queued messages after the history, and the outcomes of only the turns on
 * the page. Positions are stable while the session lives (the history only grows; a queued
 * message keeps its position when its turn starts, unless a message is added meanwhile).
 * Null when the session does not exist.
 */
export async function readTimelinePage(redis: RedisClient, k: SessionKeys, from: number, limit: number, lookahead = 0): Promise<TimelinePage | null> {
  const replies = (await redis.multi().hmget(k.meta, 'status', 'turn_id').llen(k.messages).llen(k.inbox).exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  const [status, runningTurn] = replies[0]?.[1] as (string | null)[];
  if (!status) return null;
  const historyLength = Number(replies[1]?.[1]);
  const total = historyLength + Number(replies[2]?.[1]);
  const end = Math.min(total, from + limit + lookahead);
  const history = from < historyLength ? await readListChunked(redis, k.messages, from, Math.min(end, historyLength)) : [];
  const firstQueued = Math.max(0, from - historyLength);
  const queued = end > historyLength ? await redis.lrange(k.inbox, firstQueued, end - historyLength - 1) : [];
  const decoded = history.map((raw, i) => ({ seq: from + i, ...decodeStored(raw) }));
  const turnIds = [...new Set(decoded.map((d) => d.meta?.turn).filter((t): t is string => Boolean(t)))];
  const outcomes = turnIds.length ? await redis.hmget(k.turns, ...turnIds) : [];
  const outcomeOf = new Map(turnIds.map((t, i) => [t, outcomes[i] ?? null]));
  const all: TimelineEntry[] = decoded.map(({ seq, message, meta }) => {
    const turn = meta?.turn;
    let entryStatus: TimelineEntry['status'] = 'completed';
    if (turn && status === 'running' && turn === runningTurn && message.role !== 'assistant') entryStatus = 'processing';
    else if (turn && outcomeOf.get(turn)) entryStatus = outcomeOf.get(turn) as 'failed' | 'canceled';
    return { seq, message, meta, status: entryStatus };
  });
  queued.forEach((record, i) => {
    const raw = record.split('\n').slice(3).join('\n');
    if (!raw) return;
    const { message, meta } = decodeStored(raw);
    all.push({ seq: historyLength + firstQueued + i, message, meta, status: 'queued' });
  });
  const pageEnd = from + limit;
  return { entries: all.filter((e) => e.seq < pageEnd), after: all.filter((e) => e.seq >= pageEnd), total };
}
