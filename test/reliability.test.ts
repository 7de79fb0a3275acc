import { afterEach, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, FAST_RECOVERY, createSession, http, waitForIdle } from './support/baton.ts';

/**
 * A 202 is a promise: whatever process dies where, the turn runs once and its result
 * is recorded. Each test kills a real process at a named point. The faults under load
 * (a worker killed mid-turn, the API killed before its enqueue, a blocked worker, Redis
 * restarts) are in test/faults.test.ts and test/faults-redis.test.ts.
 */
let baton: Baton | undefined;
afterEach(async () => {
  await baton?.stop();
  baton = undefined;
});

const start = async (options: Partial<Parameters<typeof Baton.start>[0]> = {}) => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), ...options, env: { ...FAST_RECOVERY, ...options.env } });
  return baton;
};

async function contents(base: string, id: string): Promise<(string | null)[]> {
  const res = await http(base, 'GET', `/sessions/${id}/messages`);
  return res.body.map((m: { content: string | null }) => m.content);
}

async function untilIdle(base: string, id: string) {
  return waitUntil(
    async () => {
      const view = await waitForIdle(base, id, 5);
      return view.status !== 'running' && view;
    },
    { timeoutMs: 30_000, what: `session ${id} to stop running` },
  );
}

describe('concurrency', () => {
  it('two API processes, 50 concurrent POSTs to one idle session: exactly one 202, 409 for the rest', async () => {
    const b = await start({ apis: 2, workerEnv: { ECHO_DELAY_MS: '5000' } });
    const id = await createSession(b.url);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        http(b.apis[i % 2]!.url, 'POST', `/sessions/${id}/messages`, { content: `m${i}` }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    const history = await contents(b.url, id);
    expect(history).toHaveLength(1);
  });
});

describe('crashes', () => {
  it('a worker killed between the agent reply and the state write: the turn is rerun, one reply', async () => {
    const b = await start({ workers: 0 });
    const doomed = await b.startWorker({ BATON_FAULT: 'kill:worker.after-agent-reply' });
    const id = await createSession(b.url);
    expect((await http(b.url, 'POST', `/sessions/${id}/messages`, { content: 'again' })).status).toBe(202);
    await doomed.exited;
    expect((await http(b.url, 'GET', `/sessions/${id}`)).body.status).toBe('running');

    await b.startWorker();
    const done = await untilIdle(b.url, id);
    expect(done).toMatchObject({ status: 'idle', response: { content: 'echo: again' } });
    expect(await contents(b.url, id)).toEqual(['again', 'echo: again']);
  });
});

// On a Redis Cluster the running index is in another slot than the session, so the worker
// cannot take the entry out with the turn's end: the reaper drops it at its check (README).
describe.skipIf(inject('redisUrl').startsWith('redis+cluster'))('running index (one Redis server)', () => {
  it('a turn that ends leaves the reaper\'s running index at once, not at its check time', async () => {
    // A check time a minute away: only the worker's own removal can empty the index in time.
    const b = await start({ env: { RUNNING_GRACE_MS: '60000' } });
    const id = await createSession(b.url);
    expect((await http(b.url, 'POST', `/sessions/${id}/messages`, { content: 'hi' })).status).toBe(202);
    expect(await untilIdle(b.url, id)).toMatchObject({ status: 'idle' });
    const running = `${b.prefix}:running`;
    await waitUntil(async () => (await b.redis.zscore(running, id)) === null, { timeoutMs: 10_000, what: 'the entry to leave the index' });
  });
});

describe('keys', () => {
  it('every Redis key of a session carries the session id as a hash tag', async () => {
    const b = await start({ workerEnv: { ECHO_DELAY_MS: '300' } });
    const id = await createSession(b.url, { state: [{ role: 'user', content: 'preloaded' }] });
    await http(b.url, 'POST', `/sessions/${id}/messages`, { content: 'a' });
    await http(b.url, 'POST', `/sessions/${id}/messages`, { content: 'b', if_busy: 'enqueue' });
    const keys = await b.keys(`${b.prefix}:*`);
    const mine = keys.filter((k) => k.includes(id));
    expect(mine.length).toBeGreaterThanOrEqual(3); // meta, messages, inbox
    for (const key of mine) expect(key).toContain(`{${id}}`);
    // The reaper's pass lock is there only while a pass's interval lasts.
    const global = keys.filter((k) => !k.includes(id) && k !== `${b.prefix}:running:lock`).sort();
    expect(global).toEqual([`${b.prefix}:running`, `${b.prefix}:sessions`]);
    await untilIdle(b.url, id);
    // `{prefix}:turns:…`, or `{prefix:t<n>}:turns:…` on sharded queues (TURN_QUEUE_SHARDS).
    const queueKeys = await b.keys(`{${b.prefix}*:turns:*`);
    expect(queueKeys.length).toBeGreaterThan(0);
  });
});
