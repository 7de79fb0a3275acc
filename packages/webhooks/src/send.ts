import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { blockedAddressReason, guardedLookup } from './address.ts';
import { parseRetryAfter } from './schedule.ts';

export const DEFAULT_MAX_RESPONSE_BYTES = 8192;
export const USER_AGENT = 'Baton-Webhooks/0.1';

export interface SendRequest {
  url: string;
  /** Extra headers, e.g. the `webhook-*` ones; they may override the defaults. */
  headers: Record<string, string>;
  body: string;
  /** Bounds the whole exchange: connect, TLS, request and reading the response. */
  timeoutMs: number;
  /** How much of the response body to keep; default 8192 bytes. */
  maxResponseBytes?: number;
  /** Skip the SSRF checks (tests, trusted internal receivers). */
  allowPrivate: boolean;
  /** The DNS lookup to guard; default `dns.lookup`. */
  lookup?: LookupFunction;
}

export interface SendResult {
  /** Null when no response was received. */
  statusCode: number | null;
  latencyMs: number;
  /** From a `Retry-After` response header. */
  retryAfterMs: number | null;
  /** Up to `maxResponseBytes` of the body, decoded as UTF-8. */
  responseBody: string;
  error: string | null;
  /** `ETIMEDOUT` (our deadline), `EBLOCKED` (SSRF), `EINVALIDURL`, or Node's code. */
  errorCode: string | null;
}

export type DeliveryOutcome = 'delivered' | 'retry' | 'stop';

/** Errors that retrying cannot fix. */
const PERMANENT_ERRORS = new Set(['EBLOCKED', 'EINVALIDURL']);

/**
 * 2xx is delivered; 410 Gone means the receiver asked us to stop; a refused (EBLOCKED)
 * or unusable URL stops too; everything else (3xx, other 4xx, 5xx, network errors,
 * timeouts) is retried. A status received before a later error (e.g. the body timed
 * out) is what counts: the receiver has answered.
 */
export function classifyResponse(result: SendResult): DeliveryOutcome {
  const status = result.statusCode;
  if (status !== null) {
    if (status >= 200 && status < 300) return 'delivered';
    if (status === 410) return 'stop';
    return 'retry';
  }
  if (result.errorCode !== null && PERMANENT_ERRORS.has(result.errorCode)) return 'stop';
  return 'retry';
}

const FORBIDDEN_HEADER_CHARS = /[\r\n\0]/;

/** Lower-cased headers: defaults, then the caller's, then a computed content-length. */
function buildHeaders(extra: Record<string, string>, body: string): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
  };
  for (const [name, value] of Object.entries(extra)) {
    if (FORBIDDEN_HEADER_CHARS.test(name) || FORBIDDEN_HEADER_CHARS.test(value)) {
      throw new Error(`webhook header ${JSON.stringify(name)} contains CR, LF or NUL`);
    }
    headers[name.toLowerCase()] = value;
  }
  headers['content-length'] = String(Buffer.byteLength(body));
  return headers;
}

function failure(start: number, error: string, errorCode: string): SendResult {
  return {
    statusCode: null,
    latencyMs: Math.round(performance.now() - start),
    retryAfterMs: null,
    responseBody: '',
    error,
    errorCode,
  };
}

/**
 * POSTs one webhook delivery. Never follows redirects, never throws for network errors
 * (they come back in `error`/`errorCode`), refuses blocked addresses unless
 * `allowPrivate`: IP literals up front (Node does not call `lookup` for them) and
 * resolved names at connect time via `guardedLookup`, which defeats DNS rebinding.
 * Throws only for programming errors: a header name or value containing CR/LF/NUL.
 */
export async function sendWebhook(req: SendRequest): Promise<SendResult> {
  const headers = buildHeaders(req.headers, req.body);
  const maxBytes = req.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const start = performance.now();

  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return failure(start, 'invalid URL', 'EINVALIDURL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return failure(start, `unsupported protocol ${url.protocol}`, 'EINVALIDURL');
  }
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (!req.allowPrivate && isIP(hostname) !== 0) {
    const reason = blockedAddressReason(hostname);
    if (reason) return failure(start, `refusing to connect to ${hostname}: ${reason}`, 'EBLOCKED');
  }

  return new Promise<SendResult>((resolve) => {
    let statusCode: number | null = null;
    let retryAfterMs: number | null = null;
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;

    const settle = (error: string | null, errorCode: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        statusCode,
        latencyMs: Math.round(performance.now() - start),
        retryAfterMs,
        responseBody: Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8'),
        error,
        errorCode,
      });
      // Frees the socket whatever state it is in (no-op once the response ended).
      request.destroy();
    };

    const transport = url.protocol === 'https:' ? https : http;
    let request: http.ClientRequest;
    try {
      request = transport.request({
        method: 'POST',
        protocol: url.protocol,
        hostname,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        headers,
        // No pooling: each delivery opens (and resolves, through the guarded lookup) its
        // own connection. A keep-alive agent keys sockets by host:port only, so a socket
        // opened for an `allowPrivate` delivery, or to an address DNS has since moved
        // away from, could be reused by another delivery without any check; webhook
        // targets are many and mostly cold, so reuse would buy little anyway.
        agent: false,
        lookup: guardedLookup({ allowPrivate: req.allowPrivate, ...(req.lookup ? { lookup: req.lookup } : {}) }),
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      resolve(failure(start, e.message, e.code ?? 'EREQUEST'));
      return;
    }

    const timer = setTimeout(() => settle('timeout', 'ETIMEDOUT'), req.timeoutMs);

    request.on('error', (err: NodeJS.ErrnoException) => settle(err.message, err.code ?? 'EREQUEST'));
    request.on('response', (res) => {
      statusCode = res.statusCode ?? null;
      const retryAfter = res.headers['retry-after'];
      retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        // Enough kept: stop reading and drop the connection instead of draining it.
        if (received >= maxBytes) settle(null, null);
      });
      res.on('end', () => settle(null, null));
      res.on('error', (err: NodeJS.ErrnoException) => settle(err.message, err.code ?? 'ERESPONSE'));
      res.on('aborted', () => settle('response aborted', 'ECONNRESET'));
    });
    request.end(req.body);
  });
}
