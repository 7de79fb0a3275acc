import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { AppError, IdempotencyKeyReusedError, canonicalJson } from '@baton/core';
import type { IdempotencyStore, RequestKey } from '@baton/store';
import { tenantOf } from './auth.ts';

const FIELD = 'headers.idempotency-key';

/** Printable ASCII, 1–255 characters; a structured-field string's quotes are taken off. */
function parseKey(header: string): string {
  const quoted = /^"(.*)"$/.exec(header);
  const key = quoted ? (quoted[1] as string) : header;
  if (!/^[\x21-\x7e][\x20-\x7e]{0,254}$/.test(key) || /\s$/.test(key)) {
    throw new AppError(400, 'idempotency_key_invalid', `${FIELD}: must be 1 to 255 printable ASCII characters`, {
      details: [{ path: FIELD, message: 'must be 1 to 255 printable ASCII characters' }],
    });
  }
  return key;
}

/** Kept only when the request has run its course: a conflict or a rate limit may go another way on a retry. */
function keeps(status: number): boolean {
  return status < 500 && status !== 408 && status !== 409 && status !== 429;
}

/** Only `res.json` answers are kept, so a record saved without a content type (before it was kept) is JSON too. */
const JSON_TYPE = 'application/json; charset=utf-8';

/** Kept before `res.json` has set its content type: the type it will send (the route's own, or JSON's). */
function replayedHeaders(res: Response): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': String(res.getHeader('content-type') ?? JSON_TYPE) };
  const location = res.getHeader('location');
  if (location !== undefined) headers.location = String(location);
  return headers;
}

/**
 * `Idempotency-Key` on POST (IETF httpapi idempotency-key draft), per tenant:
 * - a new key runs the request; its response is kept (`IDEMPOTENCY_TTL_S`) before it is sent;
 * - the same key and the same request (method, path and body, whatever the order of its
 *   JSON keys) replays that response (status, Content-Type, Location, body) with
 *   `Idempotent-Replayed: true`, and runs nothing;
 * - the same key with a different request: 422 `idempotency_key_reused`;
 * - while the first is still running: 409 `idempotency_key_in_flight`, with a Retry-After
 *   of when its hold lapses unless renewed.
 * A running request renews its hold (every third of IDEMPOTENCY_PENDING_S, all such requests
 * of this process together), so the hold of a process that died lapses soon after.
 * A 5xx, 408, 409 or 429 answer frees the key, so a retry runs the request again; so does a
 * response body over IDEMPOTENCY_MAX_BODY_BYTES (a message's retry still gets its recorded turn).
 */
export function idempotency(store: IdempotencyStore, logger: Logger): RequestHandler {
  /** The holds of this process's running requests, by owner id. */
  const holds = new Map<string, { tenant: string; key: string }>();
  const renewAll = () => {
    for (const [owner, { tenant, key }] of holds) {
      store.renew(tenant, key, owner).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'idempotency hold not renewed'));
    }
  };
  setInterval(renewAll, Math.max(50, store.options.pendingTtlMs / 3)).unref();

  const handle: RequestHandler = async (req, res, next) => {
    const header = req.get('idempotency-key') as string;
    try {
      const key = parseKey(header);
      const tenant = tenantOf(res);
      // The parsed body with its keys sorted: a retry whose JSON lists them in another order is the same request.
      const fingerprint = createHash('sha256')
        .update(`${req.method} ${req.originalUrl}\n${canonicalJson(req.body ?? null)}`)
        .digest('base64url');
      const begun = await store.begin(tenant, key, fingerprint);
      if (begun.kind === 'mismatch') throw new IdempotencyKeyReusedError();
      if (begun.kind === 'in_flight') {
        throw new AppError(409, 'idempotency_key_in_flight', `${FIELD}: a request with this key is still being processed; retry shortly`, {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(begun.retryAfterMs / 1000))) },
        });
      }
      if (begun.kind === 'replay') {
        const { status, headers, body } = begun.response;
        return void res.status(status).set({ 'content-type': JSON_TYPE, ...headers }).set('idempotent-replayed', 'true').send(body);
      }
      const { owner } = begun;
      holds.set(owner, { tenant, key });
      res.once('close', () => holds.delete(owner));
      // A message records its turn under the key too, with the turn itself (`RequestKey`).
      res.locals.requestKey = { key, fingerprint } satisfies RequestKey;
      const send = res.json.bind(res);
      // The response is kept before it is sent: a client that saw it can count on the replay.
      res.json = (body: unknown) => {
        const status = res.statusCode;
        const text = JSON.stringify(body) ?? '';
        // A body over IDEMPOTENCY_MAX_BODY_BYTES is not kept: records stay small (see `keepsBody`).
        const saved = keeps(status) && store.keepsBody(text)
          ? store.complete(tenant, key, fingerprint, { status, headers: replayedHeaders(res), body: text })
          : store.abandon(tenant, key, owner);
        saved
          .catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'idempotency record not saved'))
          .finally(() => send(body));
        return res;
      };
      next();
    } catch (err) {
      next(err);
    }
  };
  // Most requests carry no key: they pass straight on, without an async call.
  return (req, res, next) => {
    if (req.method !== 'POST' || req.headers['idempotency-key'] === undefined) return next();
    void handle(req, res, next);
  };
}
