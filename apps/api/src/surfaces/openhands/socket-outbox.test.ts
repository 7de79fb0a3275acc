import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { waitUntil } from '@baton/devtools';
import { Outbox } from './socket-outbox.ts';

/** A real socket pair on localhost: the server's end, and a client that may stop reading. */
async function pair(): Promise<{ server: WebSocket; client: WebSocket; close: () => void }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  client.on('error', () => {});
  const [server] = (await once(wss, 'connection')) as [WebSocket];
  if (client.readyState !== WebSocket.OPEN) await once(client, 'open');
  return { server, client, close: () => (client.terminate(), server.terminate(), wss.close()) };
}

const cleanup: (() => void)[] = [];
afterEach(() => cleanup.splice(0).forEach((fn) => fn()));

const MAX = 1024 * 1024;
const frame = { kind: 'MessageEvent', text: 'x'.repeat(256 * 1024) };

it('a client that stops reading: what waits to go out stays under the bound, then the socket is cut off', async () => {
  const { server, client, close } = await pair();
  cleanup.push(close);
  client.pause();
  const outbox = new Outbox(server, MAX, 300, pino({ level: 'silent' }));
  let peak = 0;
  let open = true;
  // 64 MB offered: far more than the kernel's socket buffers take.
  for (let i = 0; i < 256 && open; i++) {
    open = await outbox.send([frame]);
    peak = Math.max(peak, server.bufferedAmount);
  }
  expect(open).toBe(false);
  expect(peak).toBeLessThanOrEqual(MAX + JSON.stringify(frame).length + 16);
  await once(server, 'close');
});

it('a client that reads slowly gets everything: sending waits for it rather than closing', async () => {
  const { server, client, close } = await pair();
  cleanup.push(close);
  let received = 0;
  client.on('message', () => received++);
  client.pause();
  const outbox = new Outbox(server, MAX, 10_000, pino({ level: 'silent' }));
  const sending = outbox.send(Array.from({ length: 80 }, () => frame));
  // Reading resumes once the server is holding frames back (20 MB offered).
  await waitUntil(() => server.bufferedAmount > MAX, { what: 'the server to hold back' });
  client.resume();
  expect(await sending).toBe(true);
  await waitUntil(() => received === 80, { what: 'every frame' });
});
