import type { RequestHandler } from 'express';
import { RateLimitedError } from '@baton/core';
import type { RateLimiter } from '@baton/store';
import { isAdmin, tenantOf } from './auth.ts';

/** Per API key (`RATE_LIMIT_PER_S`, `RATE_LIMIT_BURST`): 429 with Retry-After beyond it. Off without keys. */
export function rateLimit(limiter: RateLimiter | undefined): RequestHandler {
  return (_req, res, next) => {
    // The admin key has a bucket of its own (tenant names are `t_<hex>`).
    const bucket = isAdmin(res) ? 'admin' : tenantOf(res);
    if (!limiter || bucket === '') return next();
    limiter.take(bucket).then(
      (waitMs) => next(waitMs > 0 ? new RateLimitedError(waitMs) : undefined),
      (err: unknown) => next(err),
    );
  };
}
