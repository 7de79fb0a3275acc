/**
 * Phase (h) of `npm run bench` (`BENCH_PHASES=h`): what a turn costs as its session's history
 * grows: 1, 100 and 10,000 messages of ~1 KB. The 1-message session is the baseline, in the
 * same run. Redis time is read from `INFO commandstats` (microseconds Redis spent in commands).
 * Then OpenHands event pages and counts on the 10,000-message history, beside the whole read.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type SessionStore, encodeMessage } from '@baton/store';

const KB = 'k'.repeat(1000);

export interface HistoryPhaseDeps {
  client: Redis;
  store: SessionStore;
  apiUrl: string;
  /** CPU seconds the worker process has used so far. */
  workerCpu: () => number;
  redisCpu: () => Promise<number>;
}

/** Microseconds and calls Redis spent in each command so far. */
async function commandStats(client: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of (await client.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

function usecSince(before: Map<string, { calls: number; usec: number }>, after: Map<string, { calls: number; usec: number }>, only?: string) {
  let usec = 0;
  let calls = 0;
  for (const [name, a] of after) {
    if (only && name !== only) continue;
    const b = before.get(name) ?? { calls: 0, usec: 0 };
    usec += a.usec - b.usec;
    calls += a.calls - b.calls;
  }
  return { usec, calls };
}

/** A session whose history holds `size` messages of ~1 KB (written straight into Redis, in chunks). */
async function sessionWithHistory(deps: HistoryPhaseDeps, size: number): Promise<string> {
  const sessionId = randomUUID();
  await deps.store.create({ sessionId, agent: 'echo', tenant: '', state: [] });
  const key = deps.store.sessionKeys(sessionId).messages;
  for (let i = 0; i < size; i += 500) {
    const n = Math.min(500, size - i);
    await deps.client.rpush(key, ...Array.from({ length: n }, (_, j) => encodeMessage({ role: j % 2 ? 'assistant' : 'user', content: `${i + j} ${KB}` }, { at: Date.now() })));
  }
  return sessionId;
}

async function turn(apiUrl: string, sessionId: string): Promise<void> {
  const res = await fetch(`${apiUrl}/sessions/${sessionId}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ content: `hello ${KB}` }),
  });
  if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
  for (;;) {
    const body = (await (await fetch(`${apiUrl}/sessions/${sessionId}?wait=true&timeout=30`)).json()) as { status: string };
    if (body.status !== 'running') {
      if (body.status !== 'idle') throw new Error(`turn ended ${body.status}`);
      return;
    }
  }
}

/** Redis time of the claim script alone: `calls` claims of a running turn on a session of `size` messages. */
async function claimUsec(deps: HistoryPhaseDeps, size: number, calls: number): Promise<{ claimUs: number; wholeReadUs: number }> {
  const id = await sessionWithHistory(deps, size);
  const turnId = randomUUID();
  await deps.store.submit({ sessionId: id, turnId, message: { role: 'user', content: 'go' }, webhook: null, policy: 'reject' });
  const k = deps.store.sessionKeys(id);
  const sha = (await deps.client.script('LOAD', claimSource)) as string;
  const before = await commandStats(deps.client);
  for (let i = 0; i < calls; i++) await deps.client.evalsha(sha, 3, k.meta, k.messages, k.outbox, turnId, 0);
  const { usec, calls: n } = usecSince(before, await commandStats(deps.client), 'evalsha');
  // For scale: the whole-history read the claim script made before (LRANGE 0 -1), a few times.
  const before2 = await commandStats(deps.client);
  for (let i = 0; i < 5; i++) await deps.client.lrange(k.messages, 0, -1);
  const whole = usecSince(before2, await commandStats(deps.client), 'lrange');
  await deps.store.delete(id);
  return { claimUs: Math.round((usec / n) * 1000) / 1000, wholeReadUs: Math.round(whole.usec / whole.calls) };
}

let claimSource = '';

/** Redis µs and wall ms per call of `request`, over `n` calls. */
async function perCall(deps: HistoryPhaseDeps, n: number, request: () => Promise<unknown>): Promise<{ redis_us: number; ms: number }> {
  const before = await commandStats(deps.client);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await request();
  const ms = (performance.now() - t0) / n;
  return { redis_us: Math.round(usecSince(before, await commandStats(deps.client)).usec / n), ms: Math.round(ms * 10) / 10 };
}

async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/**
 * OpenHands `events/search` and `events/count` on a `size`-message session (made through the
 * create script, so its history is indexed), beside the same requests with the time index
 * hidden: the whole read in chunks that sessions made before the index still get (and that
 * every request made before it). Each row's baseline is measured in the same run.
 */
async function eventPages(deps: HistoryPhaseDeps, size: number) {
  const sessionId = randomUUID();
  const state = Array.from({ length: size }, (_, i) => ({ role: i % 2 ? ('assistant' as const) : ('user' as const), content: `${i} ${KB}` }));
  await deps.store.create({ sessionId, agent: 'echo', tenant: '', state });
  const meta = deps.store.sessionKeys(sessionId).meta;
  const base = `${deps.apiUrl}/api/conversations/${sessionId}/events`;
  // The next_page_id of page 49 (events 4,900–4,999 start page 50): walked once, by range.
  let pageId = '';
  for (let page = 0, url = `${base}/search?limit=100`; page < 50; page++) {
    const body = await getJson(url);
    pageId = body.next_page_id;
    url = `${base}/search?limit=100&page_id=${pageId}`;
  }
  const requests = {
    newest_page: `${base}/search?limit=100&sort_order=TIMESTAMP_DESC`,
    page_50_by_page_id: `${base}/search?limit=100&page_id=${pageId}`,
    count: `${base}/count`,
  };
  const rows: Record<string, unknown>[] = [];
  for (const [request, url] of Object.entries(requests)) {
    const byRange = await perCall(deps, 20, () => getJson(url));
    const ix = await deps.client.hget(meta, 'ix');
    await deps.client.hdel(meta, 'ix');
    const whole = await perCall(deps, 3, () => getJson(url));
    await deps.client.hset(meta, 'ix', ix as string);
    rows.push({ request, by_range: byRange, whole_read: whole, redis_time_ratio: Math.round((byRange.redis_us / whole.redis_us) * 1000) / 1000 });
  }
  await deps.store.delete(sessionId);
  return { messages: size, message_bytes: 1000, page_limit: 100, rows, baseline: 'the same request with the time index hidden (whole read in chunks)' };
}

export async function historyPhase(deps: HistoryPhaseDeps, options: { claimLua: string; sizes?: number[]; turns?: number }) {
  claimSource = options.claimLua;
  const sizes = options.sizes ?? [1, 100, 10_000];
  const turns = options.turns ?? 40;
  const rows: Record<string, unknown>[] = [];
  // Warm-up (JIT, connections, the worker's first job), untimed.
  const warm = await sessionWithHistory(deps, 1);
  for (let i = 0; i < 5; i++) await turn(deps.apiUrl, warm);
  for (const size of sizes) {
    const { claimUs, wholeReadUs } = await claimUsec(deps, size, 200);
    // Two sessions of this size, turns alternating between them; each session's first turn (the
    // worker's cold read of its history, in bounded chunks) is timed apart.
    const ids = [await sessionWithHistory(deps, size), await sessionWithHistory(deps, size)];
    const coldStart = performance.now();
    await Promise.all(ids.map((id) => turn(deps.apiUrl, id)));
    const coldMs = performance.now() - coldStart;
    const stats0 = await commandStats(deps.client);
    const cpu0 = { worker: deps.workerCpu(), redis: await deps.redisCpu() };
    const t0 = performance.now();
    for (let i = 0; i < turns / 2; i++) await Promise.all(ids.map((id) => turn(deps.apiUrl, id)));
    const elapsed = performance.now() - t0;
    const redisUs = usecSince(stats0, await commandStats(deps.client)).usec;
    const perTurn = (seconds: number) => Math.round((seconds * 1e6) / turns);
    rows.push({
      messages: size,
      claim_script_redis_us: claimUs,
      whole_history_lrange_us: wholeReadUs,
      redis_us_per_turn: Math.round(redisUs / turns),
      cpu_us_per_turn: { worker: perTurn(deps.workerCpu() - cpu0.worker), redis: perTurn((await deps.redisCpu()) - cpu0.redis) },
      turn_ms: Math.round((elapsed / (turns / 2)) * 10) / 10,
      first_turn_ms: Math.round(coldMs * 10) / 10,
    });
    await Promise.all(ids.map((id) => deps.store.delete(id)));
  }
  const base = rows[0] as { redis_us_per_turn: number };
  const openhandsEvents = await eventPages(deps, sizes[sizes.length - 1] as number);
  return {
    openhands_events: openhandsEvents,
    message_bytes: 1000,
    turns_per_size: turns,
    rows,
    baseline: `the same turn on a ${sizes[0]}-message session (first row)`,
    redis_us_per_turn_ratio_largest: Math.round(((rows.at(-1) as { redis_us_per_turn: number }).redis_us_per_turn / base.redis_us_per_turn) * 100) / 100,
  };
}
