import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { waitUntil } from '@baton/devtools';
import { SessionStore } from './session-store.ts';
import { SessionWatcher, type Watch } from './session-watcher.ts';

let admin: Redis;
let subscriber: Redis;
let watcher: SessionWatcher;
let name: string;
let prefix: string;
const opened: Watch[] = [];

beforeEach(async () => {
  prefix = `t-${randomUUID()}`;
  name = `watcher-${randomUUID()}`;
  admin = new Redis(inject('redisUrl'));
  subscriber = new Redis(inject('redisUrl'), { connectionName: name });
  watcher = new SessionWatcher(subscriber);
  await Promise.all([once(admin, 'ready'), once(subscriber, 'ready')]);
});
afterEach(async () => {
  for (const w of opened.splice(0)) w.close();
  await Promise.all([admin.quit(), subscriber.quit()]);
});

async function watch(channel: string): Promise<Watch> {
  const w = await watcher.watch(channel);
  opened.push(w);
  return w;
}

/** Tracks whether a promise has settled, without waiting for it. */
function track<T>(promise: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let done = false;
  const p = promise.then((v) => {
    done = true;
    return v;
  });
  return { settled: () => done, promise: p };
}

/** Yields until everything already queued on the event loop (I/O callbacks included) has run. */
const turnOfLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function numsub(channels: string[]): Promise<number[]> {
  const flat = (await admin.pubsub('NUMSUB', ...channels)) as (string | number)[];
  return flat.filter((_, i) => i % 2 === 1).map(Number);
}

/** The Redis clients carrying this test's connection name, with their subscription counts. */
async function ourClients(): Promise<{ sub: number }[]> {
  const list = String(await admin.client('LIST'));
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => ({ sub: Number(/ sub=(\d+)/.exec(line)?.[1]) }));
}

const channel = (label: string) => `${prefix}:sess:{${label}}:events`;

describe('SessionWatcher', () => {
  it('wakes a waiter when its channel is published to', async () => {
    const ch = channel('a');
    const w = await watch(ch);
    expect(await numsub([ch])).toEqual([1]);
    const next = track(w.next(60_000));
    // A round trip through Redis and a turn of the loop: nothing has woken it yet.
    await admin.ping();
    await turnOfLoop();
    expect(next.settled()).toBe(false);

    expect(await admin.publish(ch, 'running')).toBe(1);
    await next.promise;
    expect(next.settled()).toBe(true);
  });

  it('resolves watch() only once Redis has confirmed the subscription', async () => {
    // A subscriber that is still connecting: its SUBSCRIBE waits in the offline queue.
    const late = new Redis(inject('redisUrl'), { connectionName: name, lazyConnect: true });
    try {
      const lateWatcher = new SessionWatcher(late);
      void late.connect();
      const ch = channel('late');
      const w = await lateWatcher.watch(ch);
      // Published right after watch() resolved: it must reach the waiter.
      expect(await admin.publish(ch, 'idle')).toBe(1);
      await w.next(60_000);
      w.close();
    } finally {
      await late.quit();
    }
  });

  it('does not wake a waiter for another channel’s change', async () => {
    const a = await watch(channel('a'));
    const b = await watch(channel('b'));
    const nextA = track(a.next(60_000));
    const nextB = track(b.next(60_000));
    await admin.publish(channel('b'), 'idle');
    await nextB.promise;
    // B's message has been handled; A's waiter is still waiting.
    await turnOfLoop();
    expect(nextA.settled()).toBe(false);
    await admin.publish(channel('a'), 'idle');
    await nextA.promise;
  });

  it('does not miss a change published between watch() resolving and next()', async () => {
    const ch = channel('a');
    const w = await watch(ch);
    const delivered = once(subscriber, 'message');
    await admin.publish(ch, 'idle');
    await delivered; // the change reached the watcher while nobody was in next()

    const first = await Promise.race([w.next(60_000).then(() => 'woke'), turnOfLoop().then(() => 'waiting')]);
    expect(first).toBe('woke');
    // The change was consumed: the next call waits for a new one.
    const second = track(w.next(60_000));
    await turnOfLoop();
    expect(second.settled()).toBe(false);
    await admin.publish(ch, 'running');
    await second.promise;
  });

  it('returns after the timeout when nothing changes', async () => {
    const w = await watch(channel('quiet'));
    const started = Date.now();
    await w.next(50);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('returns when the signal aborts, or at once if it is already aborted', async () => {
    const w = await watch(channel('a'));
    const controller = new AbortController();
    const next = track(w.next(60_000, controller.signal));
    await turnOfLoop();
    expect(next.settled()).toBe(false);
    controller.abort();
    await next.promise;
    const again = await Promise.race([w.next(60_000, controller.signal).then(() => 'returned'), turnOfLoop().then(() => 'waiting')]);
    expect(again).toBe('returned');
  });

  it('serves many concurrent watches over ONE subscriber connection and unsubscribes on release', async () => {
    const COUNT = 100;
    const channels = Array.from({ length: COUNT }, (_, i) => channel(`s${i}`));
    const watches = await Promise.all(channels.map((ch) => watcher.watch(ch)));
    // A second waiter on some channels shares their subscription.
    const extra = await Promise.all(channels.slice(0, 10).map((ch) => watcher.watch(ch)));

    expect(watcher.channels).toBe(COUNT);
    expect(await ourClients()).toEqual([{ sub: COUNT }]);
    expect(await numsub(channels)).toEqual(channels.map(() => 1));

    const woken = [...watches, ...extra].map((w) => w.next(60_000));
    await Promise.all(channels.map((ch) => admin.publish(ch, 'idle')));
    await Promise.all(woken);

    for (const w of [...watches, ...extra]) w.close();
    expect(watcher.channels).toBe(0);
    await waitUntil(async () => (await numsub(channels)).every((n) => n === 0), { what: 'all channels unsubscribed' });
    expect(await ourClients()).toEqual([{ sub: 0 }]);
  });

  it('keeps a channel subscribed until its last waiter closes', async () => {
    const ch = channel('shared');
    const first = await watch(ch);
    const second = await watch(ch);
    expect(watcher.channels).toBe(1);
    first.close();
    first.close(); // closing twice changes nothing
    expect(watcher.channels).toBe(1);
    expect(await numsub([ch])).toEqual([1]);

    const next = second.next(60_000);
    await admin.publish(ch, 'idle');
    await next;

    second.close();
    expect(watcher.channels).toBe(0);
    await waitUntil(async () => (await numsub([ch]))[0] === 0, { what: 'channel unsubscribed' });
  });

  it('subscribes again when a channel is watched right after its last waiter left', async () => {
    const ch = channel('again');
    const first = await watch(ch);
    first.close();
    const second = await watch(ch);
    expect(watcher.channels).toBe(1);
    await waitUntil(async () => (await numsub([ch]))[0] === 1, { what: 'channel subscribed again' });
    const next = second.next(60_000);
    await admin.publish(ch, 'idle');
    await next;
  });

  it('wakes on the store’s own announcements (submit and finish)', async () => {
    const store = new SessionStore(admin, { prefix, runningGraceMs: 1000 });
    const sessionId = randomUUID();
    await store.create({ sessionId, agent: 'echo', tenant: '', state: [] });
    const w = await watch(store.sessionKeys(sessionId).events);

    const started = w.next(60_000);
    const turnId = randomUUID();
    await store.submit({ sessionId, turnId, message: { role: 'user', content: 'x' }, webhook: null, policy: 'reject' });
    await started;

    const finished = w.next(60_000);
    const claim = await store.claim(sessionId, turnId);
    if (claim.kind !== 'ok') throw new Error('claim failed');
    await store.finish(sessionId, turnId, claim.fence, { ok: true, reply: { role: 'assistant', content: 'y' } });
    await finished;
    expect((await store.get(sessionId))?.status).toBe('idle');
  });
});
