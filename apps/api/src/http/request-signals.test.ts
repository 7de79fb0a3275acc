import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { RequestSignals } from './request-signals.ts';

const shutdown = new AbortController();
const signals = new RequestSignals(shutdown.signal);
const seen: AbortSignal[] = [];
let base: string;
let close: () => void;

beforeAll(async () => {
  const app = express();
  // Answers at once, or holds the request until its signal aborts.
  app.get('/now', (req, res) => {
    seen.push(signals.for(req, res));
    res.json({ ok: true });
  });
  app.get('/hold', (req, res) => {
    const signal = signals.for(req, res);
    seen.push(signal);
    const answer = () => void (res.writableEnded || res.json({ aborted: true }));
    if (signal.aborted) answer();
    else signal.addEventListener('abort', answer);
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});
afterAll(() => close?.());

it('does not abort a request that was answered, and forgets it', async () => {
  seen.length = 0;
  expect(await (await fetch(`${base}/now`)).json()).toEqual({ ok: true });
  await waitUntil(() => signals.size === 0, { what: 'the answered request let go' });
  expect(seen[0]?.aborted).toBe(false);
});

it('aborts when the client goes away', async () => {
  seen.length = 0;
  const client = new AbortController();
  const pending = fetch(`${base}/hold`, { signal: client.signal }).catch((err: Error) => err.name);
  await waitUntil(() => signals.size === 1, { what: 'the request to be held' });
  client.abort();
  expect(await pending).toBe('AbortError');
  await waitUntil(() => seen[0]?.aborted === true, { what: 'the server-side abort' });
  expect(signals.size).toBe(0);
});

it('aborts every waiting request at shutdown, and any that comes after', async () => {
  seen.length = 0;
  const held = [fetch(`${base}/hold`), fetch(`${base}/hold`), fetch(`${base}/hold`)];
  await waitUntil(() => signals.size === 3, { what: 'three requests held' });
  shutdown.abort();
  const bodies = await Promise.all(held.map(async (r) => (await r).json()));
  expect(bodies).toEqual([{ aborted: true }, { aborted: true }, { aborted: true }]);
  expect(await (await fetch(`${base}/hold`)).json()).toEqual({ aborted: true });
});
