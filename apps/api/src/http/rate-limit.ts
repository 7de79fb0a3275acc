import type { RequestHandler } from 'express';
import { RateLimitedError } from '@baton/core';
import { type RateLimiter, isRedisFull } from '@baton/store';
import { isAdmin, tenantOf } from './auth.ts';

/** Per API key (`RATE_LIMIT_PER_S`, `RATE_LIMIT_BURST`): 429 with Retry-After beyond it. Off without keys, and while Redis is full. */
export function rateLimit(limiter: RateLimiter | undefined): RequestHandler {
  return (_req, res, next) => {
    // The admin key has a bucket of its own (tenant names are `t_<hex>`).
    const bucket = isAdmin(res) ? 'admin' : tenantOf(res);
    if (!limiter || bucket === '') return next();
    limiter.take(bucket).then(
      (waitMs) => next(waitMs > 0 ? new RateLimitedError(waitMs) : undefined),
      // A full Redis cannot count (the count is a write): reads still work, and writes get
      // their own 503 storage_full, so the request goes on uncounted.
      (err: unknown) => next(isRedisFull(err) ? undefined : err),
    );
  };
}
