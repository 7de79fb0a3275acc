import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { IdempotencyStore, makeProducerConnection, type RedisClient, waitForReady } from '@baton/store';
import { errorHandler } from './errors.ts';
import { idempotency } from './idempotency.ts';

/**
 * A request's hold on its Idempotency-Key, with a real Redis and real HTTP: renewed while
 * the request runs, lapsing soon after its process stops renewing it.
 */
const PENDING_MS = 300;

/** The store, counting renewals, so a test can wait for the hold to have outlived PENDING_MS. */
class CountingStore extends IdempotencyStore {
  renewals = 0;
  override async renew(tenant: string, key: string, owner: string): Promise<boolean> {
    this.renewals++;
    return super.renew(tenant, key, owner);
  }
}

let redis: RedisClient;
let store: CountingStore;
let base: string;
let close: () => void;
/** Requests the slow route has started, and the gate that lets them answer. */
let started = 0;
let open: () => void;
let gate: Promise<void>;

beforeAll(async () => {
  redis = makeProducerConnection(inject('redisUrl'), 'idempotency-test');
  await waitForReady(redis, inject('redisUrl'));
  store = new CountingStore(redis, { prefix: `t-${randomUUID()}`, ttlMs: 60_000, pendingTtlMs: PENDING_MS });
  const app = express();
  app.use(express.json(), idempotency(store, pino({ level: 'silent' })));
  app.post('/slow', async (_req, res) => {
    started++;
    await gate;
    res.status(201).json({ n: started });
  });
  app.use(errorHandler(pino({ level: 'silent' })));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});
afterAll(() => {
  close?.();
  redis?.disconnect();
});
beforeEach(() => {
  started = 0;
  gate = new Promise((resolve) => (open = resolve));
});

const post = (key: string) => fetch(`${base}/slow`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: '{}' });

it('a running request keeps its key past IDEMPOTENCY_PENDING_S: a second try meanwhile is 409 and never runs', async () => {
  const first = post('k-long');
  await waitUntil(() => started === 1, { what: 'the first request to run' });
  // Six renewals, a third of PENDING_MS apart: the hold has outlived PENDING_MS twice over.
  const from = store.renewals;
  await waitUntil(() => store.renewals >= from + 6, { what: 'the hold to be renewed six times' });
  const during = await post('k-long');
  expect(during.status).toBe(409);
  expect((await during.json()).error.code).toBe('idempotency_key_in_flight');
  expect(started).toBe(1);
  open();
  expect((await first).status).toBe(201);
  const again = await post('k-long');
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(started).toBe(1);
});

it('a hold nobody renews (its process died) lapses within IDEMPOTENCY_PENDING_S; Retry-After says when', async () => {
  // A request began under the key in a process that is gone: the hold (1 s) is never renewed.
  const gone = new IdempotencyStore(redis, { ...store.options, pendingTtlMs: 1_000 });
  const fingerprint = createHash('sha256').update('POST /slow\n{}').digest('base64url'); // as the middleware computes it
  expect((await gone.begin('', 'k-dead', fingerprint)).kind).toBe('new');
  await store.abandon('', 'k-dead', 'another-owner'); // only the holder's release frees a key
  const held = await post('k-dead');
  expect(held.status).toBe(409);
  expect(held.headers.get('retry-after')).toBe('1'); // what is left of the 1 s hold, rounded up
  open();
  const ran = await waitUntil(
    async () => {
      const res = await post('k-dead');
      return res.status !== 409 && res;
    },
    { timeoutMs: 5_000, intervalMs: 50, what: 'the orphaned hold to lapse' },
  );
  expect(ran.status).toBe(201);
  expect(started).toBe(1);
});
