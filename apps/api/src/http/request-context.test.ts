import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express, { Router } from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { requestContext, sessionIdOf } from './request-context.ts';

const ID = '3f2b8c1e-7a4d-4e6f-9b0a-1c2d3e4f5a6b';
const lines: Record<string, unknown>[] = [];
const observed: { route: string; status: number }[] = [];
let base: string;
let close: () => void;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const app = express();
  app.use(requestContext({ logger: pino(sink), logRequests: true, observe: (_req, route, status) => observed.push({ route, status }) }));
  const surface = Router();
  surface.get('/:id/events', (_req, res) => void res.json([]));
  app.use('/api/conversations', surface);
  app.get('/sessions/:id', (_req, res) => void res.status(404).json({}));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});
afterAll(() => close?.());

it('finds the session id on every surface, dashed or not', () => {
  expect(sessionIdOf(`/sessions/${ID}`)).toBe(ID);
  expect(sessionIdOf(`/sessions/${ID.toUpperCase()}/messages`)).toBe(ID);
  expect(sessionIdOf(`/api/conversations/${ID.replaceAll('-', '')}/events`)).toBe(ID);
  expect(sessionIdOf(`/api/v1/app-conversations/${ID}`)).toBe(ID);
  expect(sessionIdOf(`/api/v1/sessions/${ID}/events`)).toBe(ID);
  expect(sessionIdOf(`/sessions/${ID}?wait=true`)).toBe(ID);
  expect(sessionIdOf('/sessions')).toBeUndefined();
  expect(sessionIdOf('/api/conversations/search')).toBeUndefined();
  expect(sessionIdOf(`/api/v1/sandboxes/${ID}`)).toBeUndefined();
});

it('labels requests by route template (mount path included) and logs one line each', async () => {
  const paths = [`/api/conversations/${ID}/events`, `/sessions/${ID}`, '/nowhere'];
  for (const [i, path] of paths.entries()) {
    const res = await fetch(base + path, { headers: { 'x-request-id': `r-${i + 1}` } });
    expect(res.headers.get('x-request-id')).toBe(`r-${i + 1}`);
    // The line is written when the response has gone out: wait for it, in order.
    await waitUntil(() => observed.length === i + 1, { what: `observation ${i + 1}` });
  }
  expect(observed).toEqual([
    { route: '/api/conversations/:id/events', status: 200 },
    { route: '/sessions/:id', status: 404 },
    { route: 'unmatched', status: 404 },
  ]);
  expect(lines.map((l) => [l.reqId, l.sessionId, l.route, l.msg])).toEqual([
    ['r-1', ID, '/api/conversations/:id/events', 'request completed'],
    ['r-2', ID, '/sessions/:id', 'request completed'],
    ['r-3', undefined, 'unmatched', 'request completed'],
  ]);
});
