import type { SessionKeys } from '@baton/core';
import type { RedisClient } from './connections.ts';
import { readListChunked } from './history-cache.ts';
import { decodeStored } from './message-record.ts';
import type { TimelineEntry } from './session-store.ts';

export type WalkOrder = 'asc' | 'desc';

/**
 * Where a walk starts: at the entry of time `at` and position `seq` (included), its in-order
 * history read going on from position `next` (see TimelineWalk).
 */
export interface WalkMark {
  at: number;
  seq: number;
  next: number;
}

/** An entry of a walk: a timeline entry, its time, and what events of it are named by. */
export interface WalkedEntry extends TimelineEntry {
  /** When it was sent or recorded (ms): what the walk is ordered by, then `seq`. */
  at: number;
  /** Its index among its turn's entries, in position order (0: the turn's first); 0 without a turn. */
  ordinal: number;
  /** A walk started at this mark yields this entry first. */
  mark: WalkMark;
}

/** The size of a timeline, for counting its events without reading it. */
export interface TimelineCounts {
  /** History entries plus queued messages. */
  entries: number;
  /** Tool calls of the assistant messages among them. */
  toolCalls: number;
  /** Failed or cancelled turns that have messages in the history. */
  turnErrors: number;
}

/** Entries read per window at first (a page reads about what it shows); windows grow from there. */
const MIN_WINDOW = 8;
const MAX_WINDOW = 500;
/** About the most bytes one window's LRANGE returns: big entries make the next one shorter. */
const WINDOW_BYTES = 1 << 20;

const member = (pos: number) => String(pos).padStart(10, '0');

interface Keyed {
  at: number;
  seq: number;
}

function compare(a: Keyed, b: Keyed): number {
  return a.at - b.at || a.seq - b.seq;
}

interface Head {
  at: number;
  seq: number;
  entry?: TimelineEntry;
}

/**
 * A session's timeline (history, then queued messages) in time order (by `at`, then
 * position, as a stable sort by time would have it), read by range: the history positions
 * that are already in time order (most of them) in windows from where the walk stands, the
 * few that are not from the `early` index (store/lua/history.lua), the queued messages whole
 * (they are few: the messages waiting behind the running turn). So a page costs about its own
 * size, whatever the history's length. Each entry's turn ordinal needs the turn's earlier
 * entries: they are read back from the entry, as far as its turn goes.
 * The walk sees the history as long as it was when it opened; entries added later come in a
 * later walk.
 */
export class TimelineWalk {
  private window: number;
  private nCursor: number;
  private readonly nBuf: Head[] = [];
  private readonly eBuf: Head[] = [];
  private eOffset = 0;
  private eDone = false;
  private readonly queued: Head[];
  /** Turn id (or null) of each history position read so far. */
  private readonly turnAt = new Map<number, string | null>();
  private readonly ordinals = new Map<number, number>();
  private readonly outcomes = new Map<string, string | null>();
  /** Where a turn's entries start, where history.lua noted it. */
  private readonly starts = new Map<string, number>();

  constructor(
    private readonly redis: RedisClient,
    private readonly k: SessionKeys,
    private readonly order: WalkOrder,
    private readonly state: { status: string; runningTurn: string; length: number; queued: TimelineEntry[] },
    private readonly from: WalkMark | undefined,
    window: number,
  ) {
    this.window = Math.max(1, Math.min(MAX_WINDOW, window));
    const asc = order === 'asc';
    this.nCursor = from ? from.next : asc ? 0 : state.length - 1;
    const start = from ? { at: from.at, seq: from.seq } : undefined;
    this.queued = state.queued
      .map((entry) => ({ at: entry.meta?.at ?? 0, seq: entry.seq, entry }))
      .filter((h) => !start || (asc ? compare(h, start) >= 0 : compare(h, start) <= 0))
      .sort((a, b) => (asc ? compare(a, b) : compare(b, a)));
  }

  /** The next entry in the walk's order, or null at the end. */
  async next(): Promise<WalkedEntry | null> {
    const asc = this.order === 'asc';
    const [n, e] = await Promise.all([this.nHead(), this.eHead()]);
    const q = this.queued[0];
    let best: Head | undefined;
    let from: 'n' | 'e' | 'q' | undefined;
    for (const [head, source] of [[n, 'n'], [e, 'e'], [q, 'q']] as const) {
      if (!head) continue;
      if (!best || (asc ? compare(head, best) < 0 : compare(head, best) > 0)) {
        best = head;
        from = source;
      }
    }
    if (!best) return null;
    if (from === 'n') this.nBuf.shift();
    else if (from === 'e') {
      await this.loadEarly();
      this.eBuf.shift();
    } else this.queued.shift();
    // A walk from this entry reads the in-order history on from here (or from the next in-order entry).
    const nextHead = from === 'n' ? best.seq : (n?.seq ?? (asc ? this.state.length : -1));
    const entry = best.entry as TimelineEntry;
    const turn = entry.meta?.turn;
    let ordinal = 0;
    if (turn && entry.status !== 'queued') {
      ordinal = await this.ordinal(entry.seq, turn);
      entry.status = await this.statusOf(entry, turn);
    }
    return { ...entry, at: best.at, ordinal, mark: { at: best.at, seq: best.seq, next: nextHead } };
  }

  /** The next history entry already in time order, reading a window when none is buffered. */
  private async nHead(): Promise<Head | undefined> {
    const asc = this.order === 'asc';
    while (!this.nBuf.length && (asc ? this.nCursor < this.state.length : this.nCursor >= 0)) {
      const from = asc ? this.nCursor : Math.max(0, this.nCursor - this.window + 1);
      const to = asc ? Math.min(this.state.length, this.nCursor + this.window) - 1 : this.nCursor;
      const positions = Array.from({ length: to - from + 1 }, (_, i) => member(from + i));
      const replies = (await this.redis.multi().lrange(this.k.messages, from, to).zmscore(this.k.early, ...positions).exec()) ?? [];
      for (const [err] of replies) if (err) throw err;
      const raws = replies[0]?.[1] as string[];
      const early = replies[1]?.[1] as (string | null)[];
      const heads: Head[] = [];
      raws.forEach((raw, i) => {
        const seq = from + i;
        const { message, meta } = decodeStored(raw);
        this.turnAt.set(seq, meta?.turn ?? null);
        if (early[i] !== null) return;
        heads.push({ at: meta?.at ?? 0, seq, entry: { seq, message, meta, status: 'completed' } });
      });
      this.nBuf.push(...(asc ? heads : heads.reverse()));
      this.nCursor = asc ? to + 1 : from - 1;
      this.grow(raws);
    }
    return this.nBuf[0];
  }

  /** The next early history entry (by its index: time and position only; its message is read when taken). */
  private async eHead(): Promise<Head | undefined> {
    const asc = this.order === 'asc';
    const start = this.from ? { at: this.from.at, seq: this.from.seq } : undefined;
    while (!this.eBuf.length && !this.eDone) {
      const bound = start ? String(start.at) : asc ? '-inf' : '+inf';
      const count = this.window;
      const reply = asc
        ? await this.redis.zrangebyscore(this.k.early, bound, '+inf', 'WITHSCORES', 'LIMIT', this.eOffset, count)
        : await this.redis.zrevrangebyscore(this.k.early, bound, '-inf', 'WITHSCORES', 'LIMIT', this.eOffset, count);
      const got = reply.length / 2;
      this.eOffset += got;
      if (got < count) this.eDone = true;
      for (let i = 0; i < reply.length; i += 2) {
        const head = { seq: Number(reply[i]), at: Number(reply[i + 1]) };
        // Entries pushed after the walk opened wait for a later walk.
        if (head.seq >= this.state.length) continue;
        if (start && (asc ? compare(head, start) < 0 : compare(head, start) > 0)) continue;
        this.eBuf.push(head);
      }
    }
    return this.eBuf[0];
  }

  /** Reads the messages of the buffered early entries not read yet (position runs, one LRANGE each). */
  private async loadEarly(): Promise<void> {
    const missing = this.eBuf.filter((h) => !h.entry).sort((a, b) => a.seq - b.seq);
    if (!missing.length) return;
    const runs: [number, number][] = [];
    for (const h of missing) {
      const last = runs[runs.length - 1];
      if (last && last[1] === h.seq - 1) last[1] = h.seq;
      else runs.push([h.seq, h.seq]);
    }
    const pipeline = this.redis.pipeline();
    for (const [a, b] of runs) pipeline.lrange(this.k.messages, a, b);
    const replies = (await pipeline.exec()) ?? [];
    const bySeq = new Map<number, string>();
    replies.forEach(([err, raws], r) => {
      if (err) throw err;
      (raws as string[]).forEach((raw, i) => bySeq.set((runs[r] as [number, number])[0] + i, raw));
    });
    for (const h of missing) {
      const raw = bySeq.get(h.seq);
      if (raw === undefined) throw new Error(`history entry ${h.seq} is gone (the session was deleted during the read)`);
      const { message, meta } = decodeStored(raw);
      this.turnAt.set(h.seq, meta?.turn ?? null);
      h.entry = { seq: h.seq, message, meta, status: 'completed' };
    }
  }

  /**
   * The entry's index among its turn's entries. A turn's entries follow one another in the
   * history (only entries without a turn come between them), so they are counted back from
   * the entry to the first entry of another turn, or to where the turn starts when the index
   * noted it (after a long run of entries without a turn: history.lua).
   */
  private async ordinal(seq: number, turn: string): Promise<number> {
    const known = this.ordinals.get(seq);
    if (known !== undefined) return known;
    await this.loadTurns(turn);
    const floor = this.starts.get(turn) ?? 0;
    const before: number[] = [];
    let base = 0;
    let span = MIN_WINDOW;
    for (let q = seq - 1; q >= floor; q--) {
      if (!this.turnAt.has(q)) {
        const from = Math.max(floor, q - span + 1);
        const raws = await this.redis.lrange(this.k.messages, from, q);
        raws.forEach((raw, i) => this.turnAt.set(from + i, decodeStored(raw).meta?.turn ?? null));
        span = Math.min(MAX_WINDOW, span * 2);
        if (!this.turnAt.has(q)) break;
      }
      const t = this.turnAt.get(q);
      if (t === turn) {
        const o = this.ordinals.get(q);
        if (o !== undefined) {
          base = o + 1;
          break;
        }
        before.push(q);
      } else if (t) break;
    }
    before.reverse().forEach((q, i) => this.ordinals.set(q, base + i));
    const ordinal = base + before.length;
    this.ordinals.set(seq, ordinal);
    return ordinal;
  }

  /** As the timeline shows it: the running turn's message is `processing`; a failed or cancelled turn's entries so. */
  private async statusOf(entry: TimelineEntry, turn: string): Promise<TimelineEntry['status']> {
    if (this.state.status === 'running' && turn === this.state.runningTurn && entry.message.role !== 'assistant') return 'processing';
    await this.loadTurns(turn);
    return (this.outcomes.get(turn) as TimelineEntry['status'] | null) ?? 'completed';
  }

  /** The outcome and noted start of `turn` and of every turn buffered so far, in one read. */
  private async loadTurns(turn: string): Promise<void> {
    if (this.outcomes.has(turn)) return;
    const buffered = [...this.nBuf, ...this.eBuf].map((h) => h.entry?.meta?.turn).filter((t): t is string => Boolean(t));
    const turns = [...new Set([turn, ...buffered])].filter((t) => !this.outcomes.has(t));
    const replies =
      (await this.redis
        .multi()
        .hmget(this.k.turns, ...turns)
        .hmget(this.k.meta, ...turns.map((t) => `ix_start:${t}`))
        .exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    const outcomes = replies[0]?.[1] as (string | null)[];
    const starts = replies[1]?.[1] as (string | null)[];
    turns.forEach((t, i) => {
      this.outcomes.set(t, outcomes[i] ?? null);
      const start = starts[i];
      if (start !== null && start !== undefined) this.starts.set(t, Number(start));
    });
  }

  /** Windows double (a filter that skips events needs more), shorter when entries are big. */
  private grow(raws: string[]): void {
    const bytes = raws.reduce((sum, raw) => sum + raw.length, 0);
    const next = Math.min(MAX_WINDOW, this.window * 2);
    this.window = bytes > WINDOW_BYTES ? Math.max(1, Math.floor((raws.length * WINDOW_BYTES) / bytes)) : next;
  }
}

/** The queued messages, as timeline entries (positions after the history's). */
async function queuedEntries(redis: RedisClient, k: SessionKeys, historyLength: number, inboxLength: number): Promise<TimelineEntry[]> {
  if (!inboxLength) return [];
  const records = await readListChunked(redis, k.inbox, 0, inboxLength);
  const out: TimelineEntry[] = [];
  records.forEach((record, i) => {
    const raw = record.split('\n').slice(3).join('\n');
    if (!raw) return;
    const { message, meta } = decodeStored(raw);
    out.push({ seq: historyLength + i, message, meta, status: 'queued' });
  });
  return out;
}

/** The session's status, running turn, history and inbox lengths; `indexed` when its time index covers the history. */
async function readState(redis: RedisClient, k: SessionKeys) {
  const replies = (await redis.multi().hmget(k.meta, 'status', 'turn_id', 'ix', 'ix_tools').llen(k.messages).llen(k.inbox).hlen(k.turns).exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  const [status, runningTurn, ix, tools] = replies[0]?.[1] as (string | null)[];
  const length = Number(replies[1]?.[1]);
  return {
    status,
    runningTurn: runningTurn ?? '',
    indexed: ix !== null && ix !== undefined && Number(ix) === length,
    length,
    inboxLength: Number(replies[2]?.[1]),
    toolCalls: Number(tools ?? 0),
    turnErrors: Number(replies[3]?.[1]),
  };
}

/**
 * Opens a walk of the timeline in `order`, from `from` (included) or from its start. Null
 * when the session does not exist; `unindexed` when its history has no time index (a
 * session made before it): read it whole.
 */
export async function openTimelineWalk(
  redis: RedisClient,
  k: SessionKeys,
  order: WalkOrder,
  options: { from?: WalkMark; window?: number } = {},
): Promise<TimelineWalk | 'unindexed' | null> {
  const state = await readState(redis, k);
  if (!state.status) return null;
  if (!state.indexed) return 'unindexed';
  const queued = await queuedEntries(redis, k, state.length, state.inboxLength);
  return new TimelineWalk(redis, k, order, { status: state.status, runningTurn: state.runningTurn, length: state.length, queued }, options.from, options.window ?? MIN_WINDOW);
}

/** How many entries, tool calls and turn errors the timeline has, read from the time index (the queued messages are read). */
export async function readTimelineCounts(redis: RedisClient, k: SessionKeys): Promise<TimelineCounts | 'unindexed' | null> {
  const state = await readState(redis, k);
  if (!state.status) return null;
  if (!state.indexed) return 'unindexed';
  const queued = await queuedEntries(redis, k, state.length, state.inboxLength);
  const queuedCalls = queued.reduce((sum, e) => sum + (e.message.role === 'assistant' ? (e.message.tool_calls?.length ?? 0) : 0), 0);
  return { entries: state.length + queued.length, toolCalls: state.toolCalls + queuedCalls, turnErrors: state.turnErrors };
}

/**
 * The mark of a walk from `target`, found in a timeline read whole (entries in position
 * order, history then queued): the in-order history entries are those whose time is not
 * before any earlier entry's (as history.lua decides them when they are pushed).
 */
export function markIn(entries: TimelineEntry[], target: Keyed, order: WalkOrder): WalkMark {
  let max = -Infinity;
  let history = 0;
  let next: number | undefined;
  for (const entry of entries) {
    if (entry.status === 'queued') continue;
    history++;
    const at = entry.meta?.at ?? 0;
    if (at < max) continue;
    max = at;
    const c = compare({ at, seq: entry.seq }, target);
    if (order === 'asc' && c >= 0 && next === undefined) next = entry.seq;
    if (order === 'desc' && c <= 0) next = entry.seq;
  }
  return { at: target.at, seq: target.seq, next: next ?? (order === 'asc' ? history : -1) };
}
