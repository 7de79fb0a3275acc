import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { type SendResult, classifyResponse, sendWebhook } from './send.ts';
import { generateSecret, signedHeaders } from './signature.ts';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  url: string;
  port: number;
  requests: Received[];
  /** TCP connections accepted, whether or not a request followed. */
  connections: number;
}

type Handler = (req: Received, res: http.ServerResponse) => void;

const servers: http.Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A real HTTP receiver on 127.0.0.1 that records what reaches it. */
async function startReceiver(handler: Handler): Promise<Receiver> {
  const receiver: Receiver = { url: '', port: 0, requests: [], connections: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      receiver.requests.push(received);
      handler(received, res);
    });
  });
  server.on('connection', () => receiver.connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}`;
  return receiver;
}

const BODY = JSON.stringify({ type: 'turn.completed', session_id: 's_1', turn_id: 't_1' });

function send(url: string, overrides: Partial<Parameters<typeof sendWebhook>[0]> = {}): Promise<SendResult> {
  return sendWebhook({ url, headers: {}, body: BODY, timeoutMs: 5_000, allowPrivate: true, ...overrides });
}

/** A fake `dns.lookup` answering every name with `address`, recording the options it was called with. */
function lookupTo(address: string, calls: { hostname: string; all: boolean }[] = []): LookupFunction {
  return (hostname, options, callback) => {
    calls.push({ hostname, all: options.all === true });
    const family = address.includes(':') ? 6 : 4;
    queueMicrotask(() => (options.all ? callback(null, [{ address, family }]) : callback(null, address, family)));
  };
}

describe('sendWebhook against a local receiver', () => {
  it('POSTs the body with JSON content type and the given headers; 200 is delivered', async () => {
    const secret = generateSecret();
    const receiver = await startReceiver((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks'));
    const headers = {
      ...signedHeaders({ id: 'msg_1', timestamp: Math.floor(Date.now() / 1000), body: BODY, secrets: [secret] }),
      'user-agent': 'Baton-Test/1',
      authorization: 'Bearer tok',
    };
    const result = await send(`${receiver.url}/hook?x=1`, { headers });

    expect(result).toMatchObject({ statusCode: 200, responseBody: 'thanks', error: null, errorCode: null, retryAfterMs: null });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(classifyResponse(result)).toBe('delivered');

    expect(receiver.requests).toHaveLength(1);
    const [req] = receiver.requests as [Received];
    expect(req).toMatchObject({ method: 'POST', url: '/hook?x=1', body: BODY });
    expect(req.headers).toMatchObject({
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(BODY)),
      'user-agent': 'Baton-Test/1',
      authorization: 'Bearer tok',
      'webhook-id': 'msg_1',
    });
    // What arrived verifies with the independent implementation.
    const flat = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    expect(new Webhook(secret).verify(req.body, flat)).toEqual(JSON.parse(BODY));
  });

  it('does not follow a 302: the receiver sees one request and the redirect target none', async () => {
    const target = await startReceiver((_req, res) => res.writeHead(200).end());
    const receiver = await startReceiver((_req, res) => res.writeHead(302, { location: `${target.url}/stolen` }).end());
    const result = await send(`${receiver.url}/hook`);

    expect(result.statusCode).toBe(302);
    expect(classifyResponse(result)).toBe('retry');
    expect(receiver.requests.map((r) => r.url)).toEqual(['/hook']);
    expect(target.requests).toHaveLength(0);
    expect(target.connections).toBe(0);
  });

  it('410 Gone stops', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(410).end('unsubscribed'));
    const result = await send(receiver.url);
    expect(result).toMatchObject({ statusCode: 410, responseBody: 'unsubscribed' });
    expect(classifyResponse(result)).toBe('stop');
  });

  it('429 with Retry-After is retried after the given delay', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(429, { 'retry-after': '7' }).end());
    const result = await send(receiver.url);
    expect(result).toMatchObject({ statusCode: 429, retryAfterMs: 7_000, error: null });
    expect(classifyResponse(result)).toBe('retry');
  });

  it('503 with an HTTP-date Retry-After', async () => {
    const at = new Date(Date.now() + 120_000).toUTCString();
    const receiver = await startReceiver((_req, res) => res.writeHead(503, { 'retry-after': at }).end());
    const result = await send(receiver.url);
    expect(result.statusCode).toBe(503);
    expect(result.retryAfterMs).toBeGreaterThan(100_000);
    expect(result.retryAfterMs).toBeLessThanOrEqual(120_000);
    expect(classifyResponse(result)).toBe('retry');
  });

  it('times out against a receiver that never answers', async () => {
    const receiver = await startReceiver(() => {
      /* never answers */
    });
    const result = await send(receiver.url, { timeoutMs: 150 });
    expect(result).toMatchObject({ statusCode: null, error: 'timeout', errorCode: 'ETIMEDOUT', responseBody: '' });
    expect(result.latencyMs).toBeGreaterThanOrEqual(140);
    expect(receiver.requests).toHaveLength(1);
    expect(classifyResponse(result)).toBe('retry');
  });

  it('times out when the headers arrive but the body never ends, keeping the status', async () => {
    const receiver = await startReceiver((_req, res) => {
      res.writeHead(500);
      res.write('partial');
    });
    const result = await send(receiver.url, { timeoutMs: 150 });
    expect(result).toMatchObject({ statusCode: 500, responseBody: 'partial', error: 'timeout' });
  });

  it('keeps only maxResponseBytes of an endless body and drops the connection', async () => {
    let clientGone!: Promise<void>;
    let bytesSent = 0;
    const receiver = await startReceiver((_req, res) => {
      clientGone = new Promise((resolve) => res.on('close', () => resolve()));
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let open = true;
      res.on('close', () => (open = false));
      const pump = () => {
        while (open && res.write(chunk)) bytesSent += chunk.length;
        if (open) res.once('drain', pump);
      };
      pump();
    });
    const result = await send(receiver.url, { maxResponseBytes: 1000 });
    expect(result).toMatchObject({ statusCode: 200, error: null, errorCode: null });
    expect(result.responseBody).toBe('x'.repeat(1000));
    await clientGone; // the receiver sees the connection closed instead of being drained
    expect(bytesSent).toBeLessThan(64 * 1024 * 1024);
  });

  it('caps the body at the default 8192 bytes', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(400).end('y'.repeat(20_000)));
    const result = await send(receiver.url);
    expect(result.statusCode).toBe(400);
    expect(result.responseBody).toHaveLength(8192);
    expect(classifyResponse(result)).toBe('retry');
  });

  it('reports a refused connection without throwing', async () => {
    const receiver = await startReceiver(() => {});
    const closed = servers.pop()!;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await send(receiver.url);
    expect(result).toMatchObject({ statusCode: null, errorCode: 'ECONNREFUSED' });
    expect(classifyResponse(result)).toBe('retry');
  });

  it('uses an injected lookup for names when private addresses are allowed', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(204).end());
    const calls: { hostname: string; all: boolean }[] = [];
    const result = await send(`http://hooks.example.test:${receiver.port}/hook`, { lookup: lookupTo('127.0.0.1', calls) });
    expect(result.statusCode).toBe(204);
    expect(classifyResponse(result)).toBe('delivered');
    expect(calls.map((c) => c.hostname)).toEqual(['hooks.example.test']);
    expect(receiver.requests[0]?.headers.host).toBe(`hooks.example.test:${receiver.port}`);
  });
});

describe('sendWebhook SSRF guard (allowPrivate false)', () => {
  it('refuses an IP-literal loopback URL before connecting', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end());
    const result = await send(`${receiver.url}/hook`, { allowPrivate: false });
    expect(result).toMatchObject({ statusCode: null, errorCode: 'EBLOCKED' });
    expect(result.error).toMatch(/127\.0\.0\.1.*loopback/);
    expect(classifyResponse(result)).toBe('stop');
    expect(receiver.connections).toBe(0);
    expect(receiver.requests).toHaveLength(0);
  });

  it('refuses bracketed IPv6 and IPv4-mapped literals', async () => {
    for (const url of ['http://[::1]:9/', 'http://[::ffff:127.0.0.1]:9/', 'http://169.254.169.254/latest/meta-data/']) {
      expect((await send(url, { allowPrivate: false })).errorCode).toBe('EBLOCKED');
    }
  });

  it('refuses a name that resolves to loopback at connect time (DNS rebinding)', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end());
    const calls: { hostname: string; all: boolean }[] = [];
    const result = await send(`http://rebind.example.test:${receiver.port}/hook`, {
      allowPrivate: false,
      lookup: lookupTo('127.0.0.1', calls),
    });
    expect(calls).toHaveLength(1);
    expect(result).toMatchObject({ statusCode: null, errorCode: 'EBLOCKED' });
    expect(result.error).toMatch(/127\.0\.0\.1 \(rebind\.example\.test\): loopback/);
    expect(classifyResponse(result)).toBe('stop');
    expect(receiver.connections).toBe(0);
    expect(receiver.requests).toHaveLength(0);
  });

  it('refuses a name that resolves to an IPv4-mapped loopback address', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end());
    const result = await send(`http://mapped.example.test:${receiver.port}/`, {
      allowPrivate: false,
      lookup: lookupTo('::ffff:127.0.0.1'),
    });
    expect(result.errorCode).toBe('EBLOCKED');
    expect(receiver.connections).toBe(0);
  });

  it('refuses localhost through the real resolver', async () => {
    const receiver = await startReceiver((_req, res) => res.writeHead(200).end());
    const result = await send(`http://localhost:${receiver.port}/`, { allowPrivate: false });
    expect(result.errorCode).toBe('EBLOCKED');
    expect(receiver.connections).toBe(0);
  });
});

describe('sendWebhook input checks', () => {
  it('throws for a header value or name containing CR or LF', async () => {
    await expect(send('http://127.0.0.1:9/', { headers: { 'x-evil': 'a\r\nx-injected: 1' } })).rejects.toThrow(/CR, LF/);
    await expect(send('http://127.0.0.1:9/', { headers: { 'x-evil': 'a\nb' } })).rejects.toThrow(/x-evil/);
    await expect(send('http://127.0.0.1:9/', { headers: { 'x\r\ny': 'v' } })).rejects.toThrow(/CR, LF/);
  });

  it('returns EINVALIDURL (stop) for an unusable URL', async () => {
    for (const url of ['not a url', 'ftp://example.com/']) {
      const result = await send(url);
      expect(result).toMatchObject({ statusCode: null, errorCode: 'EINVALIDURL' });
      expect(classifyResponse(result)).toBe('stop');
    }
  });
});

describe('classifyResponse', () => {
  const result = (statusCode: number | null, errorCode: string | null = null): SendResult => ({
    statusCode,
    latencyMs: 1,
    retryAfterMs: null,
    responseBody: '',
    error: errorCode,
    errorCode,
  });

  it.each([
    [200, 'delivered'],
    [201, 'delivered'],
    [204, 'delivered'],
    [299, 'delivered'],
    [301, 'retry'],
    [304, 'retry'],
    [400, 'retry'],
    [401, 'retry'],
    [404, 'retry'],
    [409, 'retry'],
    [410, 'stop'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
  ] as const)('%i → %s', (status, outcome) => {
    expect(classifyResponse(result(status))).toBe(outcome);
  });

  it.each([
    ['ETIMEDOUT', 'retry'],
    ['ECONNREFUSED', 'retry'],
    ['ECONNRESET', 'retry'],
    ['ENOTFOUND', 'retry'],
    ['EBLOCKED', 'stop'],
    ['EINVALIDURL', 'stop'],
  ] as const)('network error %s → %s', (code, outcome) => {
    expect(classifyResponse(result(null, code))).toBe(outcome);
  });
});
