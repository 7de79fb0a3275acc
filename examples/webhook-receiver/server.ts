/**
 * A minimal receiver for Baton's webhooks: verifies the Standard Webhooks signature,
 * answers 401 when it does not match, and processes each `webhook-id` once (Baton
 * retries until it gets a 2xx, so a receiver sees duplicates whenever an answer is lost).
 *
 *   WEBHOOK_SECRET=whsec_... PORT=3001 npx tsx examples/webhook-receiver/server.ts
 *
 * It listens on 127.0.0.1 (loopback) unless HOST says otherwise (e.g. HOST=0.0.0.0 in a container).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { WebhookVerificationError, verifyWebhook } from '@baton/webhooks';

export interface ReceivedEvent {
  /** The `webhook-id`: the same for every retry of one delivery. */
  id: string;
  timestamp: number;
  type: string | null;
  sessionId: string | null;
  turnId: string | null;
  payload: unknown;
}

export interface ReceiverOptions {
  port: number;
  /** The interface to listen on; default `127.0.0.1` (loopback only). */
  host?: string;
  /** One or more `whsec_` secrets (several during a rotation). */
  secrets: string[];
  /** How many recent `webhook-id`s to remember for de-duplication; default 10,000. */
  maxSeen?: number;
  /** Largest request body accepted; default 1 MiB. */
  maxBodyBytes?: number;
  log?: (line: string) => void;
}

export interface Receiver {
  url: string;
  /** Events processed so far, in order (duplicates excluded). */
  events: ReceivedEvent[];
  close(): Promise<void>;
}

/** An insertion-ordered set that forgets its oldest entries beyond `limit`. */
class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly limit: number) {}
  has(id: string): boolean {
    return this.ids.has(id);
  }
  add(id: string): void {
    this.ids.add(id);
    while (this.ids.size > this.limit) {
      const oldest = this.ids.values().next().value as string;
      this.ids.delete(oldest);
    }
  }
}

function field(payload: unknown, name: string): string | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const record = payload as Record<string, unknown>;
  const data = typeof record.data === 'object' && record.data !== null ? (record.data as Record<string, unknown>) : {};
  const value = record[name] ?? data[name];
  return typeof value === 'string' ? value : null;
}

function readBody(req: http.IncomingMessage, maxBytes: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: http.ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export async function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  const seen = new RecentIds(options.maxSeen ?? 10_000);
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const log = options.log ?? ((line: string) => console.log(line));
  const events: ReceivedEvent[] = [];

  const server = http.createServer(async (req, res) => {
    try {
      if (req.method !== 'POST') return reply(res, 405, { error: 'method not allowed' });
      // Verify against the raw bytes: re-serialised JSON would not match the signature.
      const body = await readBody(req, maxBodyBytes);
      if (body === null) return reply(res, 413, { error: 'body too large' });

      let verified: { id: string; timestamp: number };
      try {
        verified = verifyWebhook({ headers: req.headers, body, secrets: options.secrets });
      } catch (err) {
        if (err instanceof WebhookVerificationError) {
          log(JSON.stringify({ msg: 'rejected webhook', code: err.code }));
          return reply(res, 401, { error: err.code });
        }
        throw err;
      }

      // Only after verification, so nobody can burn ids they did not sign.
      if (seen.has(verified.id)) {
        log(JSON.stringify({ msg: 'duplicate webhook', id: verified.id }));
        return reply(res, 200, { ok: true, duplicate: true });
      }

      let payload: unknown;
      try {
        payload = JSON.parse(body);
      } catch {
        return reply(res, 400, { error: 'body is not JSON' });
      }
      seen.add(verified.id);
      const event: ReceivedEvent = {
        id: verified.id,
        timestamp: verified.timestamp,
        type: field(payload, 'type'),
        sessionId: field(payload, 'session_id'),
        turnId: field(payload, 'turn_id'),
        payload,
      };
      events.push(event);
      log(JSON.stringify({ msg: 'webhook', id: event.id, type: event.type, session_id: event.sessionId, turn_id: event.turnId }));
      // Answer fast; slow work belongs on a queue, or Baton will time out and retry.
      return reply(res, 200, { ok: true });
    } catch (err) {
      log(JSON.stringify({ msg: 'receiver error', error: String(err) }));
      if (!res.headersSent) reply(res, 500, { error: 'internal error' });
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, family, port } = server.address() as AddressInfo;
  const host = address === '0.0.0.0' || address === '::' ? '127.0.0.1' : family === 'IPv6' ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    events,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeIdleConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** Run directly: `npx tsx examples/webhook-receiver/server.ts`. */
async function main(): Promise<void> {
  const secrets = (process.env.WEBHOOK_SECRET ?? '').split(/[\s,]+/).filter(Boolean);
  if (secrets.length === 0) {
    console.error('Set WEBHOOK_SECRET to the whsec_ secret (several, space- or comma-separated, while rotating).');
    process.exit(1);
  }
  const receiver = await startReceiver({ port: Number(process.env.PORT ?? 3001), host: process.env.HOST || '127.0.0.1', secrets });
  console.log(`webhook receiver listening on ${receiver.url}`);
  const stop = () => void receiver.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
