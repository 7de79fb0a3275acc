import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, http, waitForIdle } from './support/baton.ts';
import { SseClient } from './support/sse.ts';

/**
 * Event streams write with backpressure and drop clients that stop reading: ten raw
 * sockets that never read, on a session whose stream holds ~10 MB (more than the
 * kernel's socket buffers take), are each closed
 * after SSE_WRITE_TIMEOUT_S with no more than SSE_BUFFER_BYTES read ahead and the
 * socket's own buffer (16 KB) plus one event written; a closed client resumes with
 * Last-Event-ID and gets the rest.
 */
const BUFFER_BYTES = 256 * 1024;
const CONTENT = 2_500_000;
const TURNS = 4;
const CLIENTS = 10;
/** The socket's high-water mark: `write` answers false past it, and the stream waits. */
const SOCKET_HWM = 16 * 1024;
let baton: Baton;
const sockets: Socket[] = [];

beforeAll(async () => {
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    apiEnv: { SSE_BUFFER_BYTES: String(BUFFER_BYTES), SSE_WRITE_TIMEOUT_S: '1', BODY_LIMIT: '3mb' },
  });
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await baton?.stop();
});

/** A client that sends the request and then never reads: its receive window fills and stays full. */
async function stuckClient(url: string, path: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  sockets.push(socket);
  await once(socket, 'connect');
  socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\naccept: text/event-stream\r\n\r\n`);
  return socket;
}

/** Reads what is left until the server's end of the connection; returns all it got. */
async function readToEnd(socket: Socket): Promise<string> {
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.resume();
  await Promise.race([once(socket, 'end'), once(socket, 'close')]);
  return text;
}

describe('a client that stops reading its event stream', () => {
  // Four turns of 2.5 MB take a while on a shared machine: each turn's claim reads the history so far.
  it('is closed with its buffer bounded, and resumes with Last-Event-ID', { timeout: 120_000 }, async () => {
    const id = (await http(baton.url, 'POST', '/sessions', {})).body.session_id as string;
    for (let i = 0; i < TURNS; i++) {
      const content = `${i} ${'x'.repeat(CONTENT)}`;
      expect((await http(baton.url, 'POST', `/sessions/${id}/messages`, { content })).status).toBe(202);
      expect((await waitForIdle(baton.url, id)).status).toBe('idle');
    }
    const api = baton.apis[0]!;
    const from = api.output.length;
    const stuck = await Promise.all(Array.from({ length: CLIENTS }, () => stuckClient(baton.url, `/sessions/${id}/events?last_event_id=0-0`)));

    // Each is closed once its socket is full and it took nothing for SSE_WRITE_TIMEOUT_S.
    await waitUntil(() => api.count(/event stream closed/) >= CLIENTS, { timeoutMs: 30_000, what: `${CLIENTS} stalled streams to be closed` });
    const lines = api.output
      .slice(from)
      .split('\n')
      .filter((line) => line.includes('event stream closed'))
      .map((line) => JSON.parse(line) as { buffered: number; held: number; bufferBytes: number; sessionId: string });
    expect(lines).toHaveLength(CLIENTS);
    const largestEvent = CONTENT + 1_000;
    for (const line of lines) {
      expect(line).toMatchObject({ sessionId: id, bufferBytes: BUFFER_BYTES });
      // Read ahead: at most the cap (one event larger than it goes alone).
      expect(line.held).toBeLessThanOrEqual(Math.max(BUFFER_BYTES, largestEvent));
      // Written and not taken: the socket's high-water mark and the one event that crossed it.
      expect(line.buffered).toBeLessThanOrEqual(SOCKET_HWM + largestEvent);
    }
    // The slots are given back (MAX_WAITERS): a long-poll is answered.
    expect((await http(baton.url, 'GET', `/sessions/${id}?wait=true&timeout=1`)).status).toBe(200);

    // The client, reading again, gets what the kernel held, then the end of the connection.
    const received = await readToEnd(stuck[0]!);
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    const ids = [...received.matchAll(/^id: (\d+-\d+)\n[\s\S]*?\n\n/gm)].map((m) => m[1] as string);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length).toBeLessThan(TURNS * 3); // not the whole stream

    // It resumes after the last whole event it got, and gets the rest: the last turn's end. (On
    // another API process, with the default SSE_WRITE_TIMEOUT_S: this client parses ~10 MB of
    // events in JavaScript, which a busy machine may not do within the first process's 1 s.)
    const other = await baton.startApi({ SSE_WRITE_TIMEOUT_S: '30' });
    const resumed = await SseClient.open(`${other.url}/sessions/${id}/events`, { 'last-event-id': ids.at(-1)! });
    try {
      const seen: string[] = [];
      for (;;) {
        const event = await resumed.next(30_000);
        if (!event) throw new Error(`the resumed stream ended after ${seen.join(', ')}\n${api.output.slice(from).split('\n').filter((l) => l.includes('closed')).join('\n')}`);
        seen.push(`${event.id} ${event.event}`);
        if (event.event === 'message' && String(event.data.message.content).startsWith(`echo: ${TURNS - 1} `)) break;
      }
      expect(seen[0]).not.toContain(ids.at(-1));
    } finally {
      resumed.close();
    }
  });
});
