import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import type { Redis } from 'ioredis';
import { waitUntil } from '@baton/devtools';
import type { ChatMessage } from '@baton/core';
import { SessionStore, type TimelineEntry } from './session-store.ts';
import { type TimelineWalk, type WalkMark, type WalkOrder, type WalkedEntry, markIn } from './timeline-walk.ts';
// The project's MONITOR reader (a plain socket: ioredis's monitor() can misread a busy server's first line).
import { RedisMonitor } from '../../../test/support/monitor.ts';

let redis: Redis;
useTestRedis((client) => (redis = client));

/** A small deterministic generator (mulberry32), so a failing history can be replayed by its seed. */
function random(seed: number) {
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), chance: (p: number) => next() < p };
}

const user = (content: string): ChatMessage => ({ role: 'user', content });
const toolCall = (id: string): ChatMessage => ({
  role: 'assistant',
  content: null,
  tool_calls: [
    { id: `${id}-a`, type: 'function', function: { name: 'clock', arguments: '{}' } },
    { id: `${id}-b`, type: 'function', function: { name: 'clock', arguments: '{}' } },
  ],
});

/**
 * A session whose history has what makes time order differ from position order: messages
 * queued behind running turns (they start later, keeping their time), messages added while a
 * turn runs, tool steps, failed, cancelled and interrupted turns, and a worker whose clock
 * runs a few milliseconds behind or ahead of the API's (ties are frequent: times move by 0–2 ms).
 */
async function randomSession(seed: number, prefix: string): Promise<{ api: SessionStore; id: string }> {
  const r = random(seed);
  let now = 1_700_000_000_000;
  let skew = 0;
  const api = new SessionStore(redis, { prefix, runningGraceMs: 5_000, now: () => now });
  const worker = new SessionStore(redis, { prefix, runningGraceMs: 5_000, now: () => now + skew });
  const id = randomUUID();
  // Preloaded messages (none, a few, or a long run before the first turn), and now and then a
  // long run of messages added with no run: turns after them start where the index notes it.
  const preload = [0, 2, 40][r.int(3)] as number;
  await api.create({ sessionId: id, agent: 'echo', tenant: '', state: Array.from({ length: preload }, (_, i) => user(`preloaded ${i}`)) });
  let running: string | null = null;
  for (let op = 0; op < 70; op++) {
    now += r.int(3);
    skew = r.int(7) - 3;
    const roll = r.next();
    if (roll < 0.35 || !running) {
      const turnId = randomUUID();
      const result = await api.submit({ sessionId: id, turnId, message: user(`m${op}`), webhook: null, policy: 'enqueue' });
      if (result.kind === 'started') running = turnId;
    } else if (roll < 0.45) {
      const run = r.chance(0.1) ? 35 : 1;
      for (let i = 0; i < run; i++) await api.append(id, { role: r.chance(0.5) ? 'user' : 'system', content: `note ${op}.${i}` });
    } else if (roll < 0.5) {
      await api.cancel(id);
    } else {
      const claim = await worker.claim(id, running);
      if (claim.kind !== 'ok') throw new Error(`claim: ${claim.kind}`);
      for (let step = claim.steps; r.chance(0.4); step++) {
        const interrupt = r.chance(0.15) ? { type: 'user_input' as const, payload: 'who?' } : undefined;
        await worker.steps.record({
          sessionId: id,
          turnId: running,
          fence: claim.fence,
          index: step,
          messages: [toolCall(`${op}-${step}`), { role: 'tool', content: '12:00', tool_call_id: `${op}-${step}-a` }],
          ...(interrupt ? { interrupt } : {}),
        });
        if (interrupt) break;
      }
      const view = await api.get(id);
      if (view?.status === 'interrupted') {
        // Waiting for a person: cancelled (or failed by its timeout), ended by the script.
        const ended = await api.cancel(id);
        running = ended.kind === 'ended' ? ended.startedTurnId : null;
        continue;
      }
      const outcome = r.next();
      const finished = await worker.finish(
        id,
        running,
        claim.fence,
        outcome < 0.7 ? { ok: true, reply: { role: 'assistant', content: `echo ${op}` } } : { ok: false, error: 'boom', ...(outcome < 0.85 ? { cancelled: true } : {}) },
      );
      if (finished.kind !== 'ok') throw new Error(`finish: ${finished.kind}`);
      running = finished.nextTurnId;
    }
  }
  return { api, id };
}

/** What the walk must give: the timeline read whole, stably sorted by time, with each entry's turn ordinal. */
function expected(entries: TimelineEntry[]): { seq: number; at: number; ordinal: number; status: string; content: unknown }[] {
  const perTurn = new Map<string, number>();
  const out = entries.map((e) => {
    const turn = e.meta?.turn;
    const ordinal = turn ? (perTurn.get(turn) ?? 0) : 0;
    if (turn) perTurn.set(turn, ordinal + 1);
    return { seq: e.seq, at: e.meta?.at ?? 0, ordinal, status: e.status, content: e.message.content };
  });
  return out.sort((a, b) => a.at - b.at || a.seq - b.seq);
}

async function drain(walk: TimelineWalk | 'unindexed' | null): Promise<WalkedEntry[]> {
  if (!walk || walk === 'unindexed') throw new Error(`no walk: ${walk}`);
  const out: WalkedEntry[] = [];
  for (let e = await walk.next(); e; e = await walk.next()) out.push(e);
  return out;
}

const shape = (e: WalkedEntry) => ({ seq: e.seq, at: e.at, ordinal: e.ordinal, status: e.status, content: e.message.content });

describe('TimelineWalk', () => {
  it('gives the timeline in the order a whole read sorted by time gives, both ways, from any entry, for random histories', async () => {
    let early = 0;
    let starts = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const prefix = `t-${randomUUID()}`;
      const { api, id } = await randomSession(seed, prefix);
      const whole = (await api.timeline(id)) as TimelineEntry[];
      const want = expected(whole);
      early += await redis.zcard(api.sessionKeys(id).early);
      starts += (await redis.hkeys(api.sessionKeys(id).meta)).filter((f) => f.startsWith('ix_start:')).length;
      for (const order of ['asc', 'desc'] as WalkOrder[]) {
        const list = order === 'asc' ? want : [...want].reverse();
        // Small windows: many reads, each edge crossed.
        const walked = await drain(await api.timelineWalk(id, order, { window: 1 + (seed % 4) }));
        expect(walked.map(shape), `seed ${seed} ${order}`).toEqual(list);
        // From each entry's own mark, and from the mark a whole read finds for it: the rest of the walk.
        for (const i of [0, 1, Math.floor(list.length / 3), Math.floor(list.length / 2), list.length - 2, list.length - 1]) {
          const target = list[i] as (typeof list)[number];
          const own = (walked[i] as WalkedEntry).mark;
          const found: WalkMark = markIn(whole, target, order);
          expect(found, `seed ${seed} ${order} mark of ${i}`).toEqual(own);
          const rest = await drain(await api.timelineWalk(id, order, { from: own, window: 3 }));
          expect(rest.map(shape), `seed ${seed} ${order} from ${i}`).toEqual(list.slice(i));
        }
      }
      const counts = await api.timelineCounts(id);
      const calls = whole.reduce((n, e) => n + (e.message.role === 'assistant' ? (e.message.tool_calls?.length ?? 0) : 0), 0);
      const errors = new Set(whole.filter((e) => e.status === 'failed' || e.status === 'canceled').map((e) => e.meta?.turn)).size;
      expect(counts, `seed ${seed} counts`).toEqual({ entries: whole.length, toolCalls: calls, turnErrors: errors });
    }
    // The histories did put entries out of time order (queued messages, clock skew), and turns
    // after long runs of entries without one.
    expect(early).toBeGreaterThan(20);
    expect(starts).toBeGreaterThan(2);
  }, 30_000);

  it('reads a page of a long history by range: the commands span about the page, not the history', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = new SessionStore(redis, { prefix, runningGraceMs: 5_000 });
    const id = randomUUID();
    await store.create({ sessionId: id, agent: 'echo', tenant: '', state: Array.from({ length: 5_000 }, (_, i) => user(`n${i}`)) });
    // A turn after them: its reply's ordinal is counted back to where the index noted the turn starts, not through the 5,000.
    const turnId = randomUUID();
    await store.submit({ sessionId: id, turnId, message: user('hi'), webhook: null, policy: 'reject' });
    const claim = await store.claim(id, turnId);
    if (claim.kind !== 'ok') throw new Error(claim.kind);
    await store.finish(id, turnId, claim.fence, { ok: true, reply: { role: 'assistant', content: 'echo: hi' } });
    const { hostname, port } = new URL(inject('redisUrl'));
    const marker = `${id}:done`;
    const monitor = await RedisMonitor.start(hostname, Number(port), (line) => line.includes(id));
    const walk = await store.timelineWalk(id, 'desc', { window: 22 });
    const page: WalkedEntry[] = [];
    for (let i = 0; i < 20; i++) page.push((await (walk as TimelineWalk).next()) as WalkedEntry);
    // Every command of the walk went before this one: once MONITOR shows it, it showed them.
    await redis.echo(marker);
    await waitUntil(async () => monitor.commands.some((c) => c.line.includes(marker)), { what: 'MONITOR to catch up' });
    monitor.stop();
    expect(page.map((e) => [e.message.content, e.ordinal])).toEqual([
      ['echo: hi', 1],
      ['hi', 0],
      ...Array.from({ length: 18 }, (_, i) => [`n${4_999 - i}`, 0]),
    ]);
    const ranges = monitor.commands
      .filter((c) => c.name === 'lrange')
      .map((c) => /"lrange" "[^"]*" "(\d+)" "(\d+)"/.exec(c.line) as RegExpExecArray)
      .map((m) => Number(m[2]) - Number(m[1]) + 1);
    expect(ranges.length).toBeGreaterThan(0);
    expect(Math.max(...ranges)).toBeLessThanOrEqual(22);
  });

  it('a history made before the index, or pushed to by a script without it, is unindexed (read whole)', async () => {
    const prefix = `t-${randomUUID()}`;
    const store = new SessionStore(redis, { prefix, runningGraceMs: 5_000 });
    const id = randomUUID();
    await store.create({ sessionId: id, agent: 'echo', tenant: '', state: [user('a')] });
    expect(await store.timelineWalk(id, 'asc')).not.toBe('unindexed');
    await redis.rpush(store.sessionKeys(id).messages, JSON.stringify({ role: 'user', content: 'b', _meta: { at: 1 } }));
    expect(await store.timelineWalk(id, 'asc')).toBe('unindexed');
    expect(await store.timelineCounts(id)).toBe('unindexed');
    expect(await store.timelineWalk(randomUUID(), 'asc')).toBeNull();
  });
});
