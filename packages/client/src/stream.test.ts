import { once } from 'node:events';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BatonClient } from './client.ts';
import { BatonError } from './errors.ts';
import type { StreamEvent } from './types.ts';

/**
 * `stream()` against a real local HTTP server that speaks SSE the way Baton's
 * `GET /sessions/{id}/events` does: reconnects with Last-Event-ID, ends on `deleted`,
 * and turns error answers into BatonErrors.
 */

type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void;
const servers: ReturnType<typeof createServer>[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

async function serve(handler: Handler): Promise<{ client: BatonClient; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => handler(req, res, requests.push(req) - 1));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { client: new BatonClient({ baseUrl: `http://127.0.0.1:${port}/`, apiKey: 'k1' }), requests };
}

const sse = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
const event = (id: string, type: string, data: unknown) => `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

async function collect(iterable: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

describe('BatonClient.stream', () => {
  it('parses events, reconnects after a dropped connection with Last-Event-ID, and ends after deleted', async () => {
    const { client, requests } = await serve((_req, res, index) => {
      sse(res);
      if (index === 0) {
        // Two whole events and half of a third, then the connection drops.
        res.write(
          event('1-0', 'status', { status: 'running', turn_id: 't1', snapshot: true }) +
            event('1-1', 'delta', { turn_id: 't1', content: 'ec', offset: 0 }) +
            'id: 1-2\nevent: de',
        );
        setImmediate(() => res.destroy());
      } else {
        // An event type this client does not know is skipped; `deleted` has no id of its own.
        res.end(
          ': resumed\n\n' +
            event('1-2', 'delta', { turn_id: 't1', content: 'ho', offset: 2 }) +
            event('1-3', 'future', { x: 1 }) +
            `event: deleted\ndata: ${JSON.stringify({ session_id: 's1' })}\n\n`,
        );
      }
    });
    const opened: number[] = [];
    const events = await collect(
      client.stream('s1', { reconnectDelayMs: 10, onOpen: () => opened.push(Date.now()) }),
    );
    expect(events).toEqual([
      { id: '1-0', event: 'status', data: { status: 'running', turn_id: 't1', snapshot: true } },
      { id: '1-1', event: 'delta', data: { turn_id: 't1', content: 'ec', offset: 0 } },
      { id: '1-2', event: 'delta', data: { turn_id: 't1', content: 'ho', offset: 2 } },
      { id: '1-3', event: 'deleted', data: { session_id: 's1' } },
    ]);
    expect(opened).toHaveLength(2);
    expect(requests.map((r) => r.url)).toEqual(['/sessions/s1/events', '/sessions/s1/events']);
    expect(requests[0]?.headers['last-event-id']).toBeUndefined();
    expect(requests[1]?.headers['last-event-id']).toBe('1-1');
    expect(requests[1]?.headers.accept).toBe('text/event-stream');
    expect(requests[1]?.headers.authorization).toBe('Bearer k1');
  });

  it('sends the given lastEventId on the first request', async () => {
    const { client, requests } = await serve((_req, res) => {
      sse(res);
      res.end(event('9-0', 'deleted', { session_id: 's2' }));
    });
    await collect(client.stream('s2', { lastEventId: '8-3' }));
    expect(requests[0]?.headers['last-event-id']).toBe('8-3');
  });

  it('throws a BatonError with the API code on 404, without retrying', async () => {
    const { client, requests } = await serve((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'session_not_found', message: 'Session "s3" not found' } }));
    });
    const error = await collect(client.stream('s3', { reconnectDelayMs: 10 })).catch((e) => e);
    expect(error).toBeInstanceOf(BatonError);
    expect(error).toMatchObject({ status: 404, code: 'session_not_found', message: 'Session "s3" not found' });
    expect(requests).toHaveLength(1);
  });

  it('retries 503 up to maxRetries, then throws the last error', async () => {
    const { client, requests } = await serve((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { code: 'service_unavailable', message: 'down' } }));
    });
    const error = await collect(client.stream('s4', { reconnectDelayMs: 5, maxRetries: 2 })).catch((e) => e);
    expect(error).toMatchObject({ status: 503, code: 'service_unavailable' });
    expect(requests).toHaveLength(3);
  });

  it('rejects an answer that is not an event stream', async () => {
    const { client } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await expect(collect(client.stream('s5'))).rejects.toMatchObject({ code: 'not_event_stream' });
  });

  it('ends quietly when the signal aborts or the loop breaks, closing the connection', async () => {
    const open: ServerResponse[] = [];
    const { client } = await serve((_req, res) => {
      sse(res);
      res.write(event('1-0', 'status', { status: 'idle', turn_id: null, snapshot: true }));
      open.push(res);
    });
    const controller = new AbortController();
    const seen: StreamEvent[] = [];
    for await (const e of client.stream('s6', { signal: controller.signal })) {
      seen.push(e);
      controller.abort();
    }
    expect(seen).toHaveLength(1);

    for await (const _ of client.stream('s6')) break;
    // Both connections were closed by the client.
    await Promise.all(open.map((res) => (res.closed ? undefined : once(res, 'close'))));
    expect(open.every((res) => res.closed)).toBe(true);
  });
});
