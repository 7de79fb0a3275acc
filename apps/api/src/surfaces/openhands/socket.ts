import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { AppError, TooManyWaitersError } from '@baton/core';
import type { RateLimiter, SessionService, SessionStore, SessionWatcher, TenantSessions } from '@baton/store';
import type { ConversationKeys } from '../../http/conversation-keys.ts';
import type { Caller, Keyring } from '../../http/auth.ts';
import type { WaiterSlots } from '../../long-poll.ts';
import { parseSendMessage } from './messages.ts';
import { ConversationFeed, type Resend } from './socket-feed.ts';
import { Outbox } from './socket-outbox.ts';
import { Checker, isObject } from './validate.ts';

/** The agent server's close codes: a bad key, an unknown conversation (both final for its clients). */
export const CLOSE_AUTH_FAILED = 4001;
export const CLOSE_NOT_FOUND = 4004;

const PATH = /^\/sockets\/events\/([^/]+)\/?$/;

/** How long a socket opened without a key in its URL or headers has to send its auth frame (as upstream). */
const AUTH_FRAME_TIMEOUT_MS = 10_000;
/** Client frames received but not yet handled, at most (the socket stops reading meanwhile). */
const MAX_PENDING_FRAMES = 16;

export interface EventSocketsDeps {
  service: SessionService;
  store: SessionStore;
  watcher: SessionWatcher;
  keyring: Keyring;
  /** Keys minted for one V1 conversation: accepted for that conversation's socket only. */
  conversationKeys?: ConversationKeys;
  /** Sockets count in MAX_WAITERS, as long-polls do. */
  waiters: WaiterSlots;
  /** Aborted when the process shuts down: every socket is closed (1001), clients reconnect elsewhere. */
  shutdown: AbortSignal;
  logger: Logger;
  /** A ping this often; a socket that has not answered the previous one is closed. */
  heartbeatMs: number;
  /** Largest client frame (bytes). */
  maxPayload: number;
  /** Bytes a socket may have waiting to go out; above it the socket's reads pause until they drain. */
  maxBufferedBytes: number;
  /** A client that takes nothing for this long while that much waits is cut off. */
  writeTimeoutMs: number;
  rateLimiter?: RateLimiter;
}

interface Open {
  ws: WebSocket;
  alive: boolean;
  stop: AbortController;
}

/**
 * `GET /sockets/events/{conversation_id}` as a WebSocket, as the OpenHands agent server
 * serves it (its TypeScript and Python clients follow conversations with it): on the
 * API's HTTP server, beside the routes. Every API process serves every conversation
 * (`ConversationFeed` reads Redis, as the SSE route does).
 */
export function attachEventSockets(server: Server, deps: EventSocketsDeps): { readonly size: number } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxPayload, clientTracking: false });
  const open = new Set<Open>();

  const heartbeat = setInterval(() => {
    for (const entry of open) {
      // No answer to the last ping (or no reading at all): gone or stuck.
      if (!entry.alive) {
        deps.logger.debug('event socket closed: no answer to the last ping');
        entry.ws.terminate();
        continue;
      }
      entry.alive = false;
      entry.ws.ping();
    }
  }, deps.heartbeatMs);
  heartbeat.unref();

  deps.shutdown.addEventListener('abort', () => {
    clearInterval(heartbeat);
    for (const entry of open) {
      entry.stop.abort();
      entry.ws.close(1001, 'Server shutting down');
      // A client that does not answer the close is cut off.
      setTimeout(() => entry.ws.terminate(), 2_000).unref();
    }
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const match = PATH.exec(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (!match) return refuse(socket, 404, 'Not Found');
    if (deps.shutdown.aborted) return refuse(socket, 503, 'Service Unavailable');
    let release: () => void;
    try {
      release = deps.waiters.take();
    } catch (err) {
      if (err instanceof TooManyWaitersError) return refuse(socket, 503, 'Service Unavailable', { 'retry-after': '1' });
      throw err;
    }
    socket.on('error', () => {});
    wss.handleUpgrade(req, socket, head, (ws) => {
      const entry: Open = { ws, alive: true, stop: new AbortController() };
      open.add(entry);
      ws.on('pong', () => (entry.alive = true));
      ws.on('error', () => {});
      ws.once('close', () => {
        open.delete(entry);
        entry.stop.abort();
        release();
      });
      serve(deps, entry, req, decodeURIComponentSafe(match[1] as string)).catch((err: unknown) => {
        deps.logger.error({ err }, 'event socket failed');
        ws.close(1011, 'Internal error');
      });
    });
  });

  return {
    get size() {
      return open.size;
    },
  };
}

async function serve(deps: EventSocketsDeps, entry: Open, req: IncomingMessage, rawId: string): Promise<void> {
  const { ws } = entry;
  const inbox = new ClientFrames(ws);
  const url = new URL(req.url ?? '/', 'http://localhost');
  const parsed = parseQuery(rawId, url.searchParams);
  if ('error' in parsed) return void ws.close(1008, parsed.error);

  const caller = await authenticate(deps, url.searchParams, req, inbox);
  if (caller === null) return void ws.close(CLOSE_AUTH_FAILED, 'Authentication failed');
  if (caller.conversation !== undefined && caller.conversation !== parsed.id) return void ws.close(CLOSE_NOT_FOUND, 'Conversation not found');
  // The admin key sees every tenant's conversations, and has a rate-limit bucket of its own.
  const { tenant } = caller;
  const bucket = caller.admin ? 'admin' : tenant;
  const sessions = deps.service.scope(tenant);
  if (!(await sessions.get(parsed.id))) return void ws.close(CLOSE_NOT_FOUND, 'Conversation not found');
  if (ws.readyState !== WebSocket.OPEN) return;

  const opened = await ConversationFeed.open(deps, parsed.id, parsed.resend);
  if (!opened) return void ws.close(CLOSE_NOT_FOUND, 'Conversation not found');
  const { feed } = opened;
  const out = new Outbox(ws, deps.maxBufferedBytes, deps.writeTimeoutMs, deps.logger);
  const signal = entry.stop.signal;
  try {
    inbox.handle((frame) => onClientFrame(deps, sessions, parsed.id, bucket, frame, out));
    if (!(await out.send(opened.first))) return;
    while (!signal.aborted) {
      const frames = await feed.next(deps.heartbeatMs, signal);
      if (frames === null) return void ws.close(CLOSE_NOT_FOUND, 'Conversation not found');
      if (!(await out.send(frames))) return;
    }
  } finally {
    feed.close();
  }
}

/** The conversation id and the resend options; a bad one closes with 1008, as FastAPI's validation does. */
function parseQuery(rawId: string, query: URLSearchParams): { id: string; resend: Resend } | { error: string } {
  const check = new Checker();
  const id = check.uuid(rawId, ['path', 'conversation_id']);
  const mode = query.get('resend_mode');
  const literal = mode === null ? undefined : check.literal(mode, ['all', 'since'], ['query', 'resend_mode']);
  const after = query.get('after_timestamp');
  const afterMs = after === null ? undefined : check.datetime(after, ['query', 'after_timestamp']);
  const all = query.get('resend_all');
  const resendAll = all === null ? false : check.boolean(all, ['query', 'resend_all']);
  const first = check.issues[0];
  if (first || !id) return { error: `Invalid request: ${first ? `${first.loc.join('.')}: ${first.msg}` : 'conversation_id'}`.slice(0, 120) };
  // `since` without a time resends nothing (as upstream); the deprecated `resend_all=true` means `all`.
  let resend: Resend = { mode: 'none' };
  if (literal === 'all' || (literal === undefined && resendAll)) resend = { mode: 'all' };
  else if (literal === 'since' && afterMs !== undefined) resend = { mode: 'since', after: afterMs };
  return { id, resend };
}

/**
 * The caller's tenant, or null. The key comes from the `session_api_key` query parameter,
 * else the `X-Session-API-Key` header, else a first frame `{"type": "auth", "session_api_key": …}`.
 */
async function authenticate(deps: EventSocketsDeps, query: URLSearchParams, req: IncomingMessage, inbox: ClientFrames): Promise<Caller | null> {
  const { keyring } = deps;
  if (!keyring.enabled) return keyring.callerFor(undefined);
  const check = async (presented: string) => keyring.callerFor(presented) ?? (await deps.conversationKeys?.verify(presented)) ?? null;
  const header = req.headers['x-session-api-key'];
  const presented = query.get('session_api_key') ?? (Array.isArray(header) ? header[0] : header);
  if (presented !== undefined) return check(presented);
  const frame = await inbox.first(AUTH_FRAME_TIMEOUT_MS);
  if (frame === null) return null;
  const data = parseJson(frame);
  if (!isObject(data) || data.type !== 'auth' || typeof data.session_api_key !== 'string') return null;
  return check(data.session_api_key);
}

/** A frame from the client: a message, added and run as `POST …/events` with `run: true` does. */
async function onClientFrame(deps: EventSocketsDeps, sessions: TenantSessions, id: string, bucket: string, frame: string, out: Outbox): Promise<void> {
  const data = parseJson(frame);
  if (data === undefined) return out.error('JSONDecodeError', 'The frame is not valid JSON');
  // A key sent again after the URL or header already carried one.
  if (isObject(data) && data.type === 'auth' && Object.keys(data).every((k) => k === 'type' || k === 'session_api_key')) return;
  if (deps.rateLimiter && bucket !== '') {
    const waitMs = await deps.rateLimiter.take(bucket);
    if (waitMs > 0) return out.error('rate_limited', `Too many requests for this API key; retry in ${Math.ceil(waitMs / 1000)} s`);
  }
  const check = new Checker();
  const send = parseSendMessage(check, data, ['body']);
  if (!send) return out.error('ValidationError', JSON.stringify(check.issues).slice(0, 2_000));
  try {
    await sessions.sendMessage(id, { ...send.message, webhook: null, if_busy: 'enqueue' });
  } catch (err) {
    if (!(err instanceof AppError) || err.status >= 500) deps.logger.warn({ err }, 'event socket: message not accepted');
    const code = err instanceof AppError ? err.code : 'internal_error';
    out.error(code, err instanceof AppError ? err.message : 'Internal server error');
  }
}

/**
 * Text frames from the client, handled one at a time in order; while some wait, the socket
 * stops reading (its TCP window then holds the client back).
 */
class ClientFrames {
  private readonly queue: string[] = [];
  private handler: ((frame: string) => Promise<void>) | null = null;
  private waiter: ((frame: string | null) => void) | null = null;
  private busy = false;

  constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const text = isBinary ? '' : rawText(data);
      if (this.waiter) return this.waiter(text);
      this.queue.push(text);
      if (this.queue.length >= MAX_PENDING_FRAMES) ws.pause();
      void this.drain();
    });
    ws.once('close', () => this.waiter?.(null));
  }

  /** The first frame (for auth), or null when none comes in time or the socket closes. */
  first(timeoutMs: number): Promise<string | null> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(null), timeoutMs);
      const finish = (frame: string | null) => {
        clearTimeout(timer);
        this.waiter = null;
        resolve(frame);
      };
      this.waiter = finish;
    });
  }

  /** From now on, frames go to `handler`. */
  handle(handler: (frame: string) => Promise<void>): void {
    this.handler = handler;
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.busy || !this.handler) return;
    this.busy = true;
    try {
      for (let frame = this.queue.shift(); frame !== undefined; frame = this.queue.shift()) {
        await this.handler(frame).catch(() => {});
        if (this.queue.length < MAX_PENDING_FRAMES && this.ws.isPaused) this.ws.resume();
      }
    } finally {
      this.busy = false;
    }
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Answers an upgrade request with a plain HTTP error and hangs up. */
function refuse(socket: Duplex, status: number, text: string, headers: Record<string, string> = {}): void {
  const lines = [`HTTP/1.1 ${status} ${text}`, 'Connection: close', 'Content-Length: 0', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  socket.end(`${lines.join('\r\n')}\r\n\r\n`, () => socket.destroy());
}
