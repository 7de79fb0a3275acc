import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { AppError } from '@baton/core';

export class UnauthorizedError extends AppError {
  constructor(message = 'A valid API key is required') {
    super(401, 'unauthorized', message);
  }
}

/**
 * The configured API keys (`API_KEYS`). With none, auth is off and every request is
 * tenant ''. Each key is its own tenant, named by a hash of the key: keys themselves
 * are never stored, logged or compared other than in constant time.
 */
export class Keyring {
  private readonly digests: { digest: Buffer; tenant: string }[];

  constructor(keys: string[]) {
    this.digests = keys.map((key) => {
      const digest = sha256(key);
      return { digest, tenant: `t_${digest.toString('hex').slice(0, 16)}` };
    });
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The tenant of a presented key, or null when it is not a valid key. */
  tenantFor(presented: string | undefined): string | null {
    if (!this.enabled) return '';
    if (!presented) return null;
    const digest = sha256(presented);
    let tenant: string | null = null;
    // Compare with every key (no early exit): the time taken says nothing about which matched.
    for (const entry of this.digests) {
      if (timingSafeEqual(entry.digest, digest) && tenant === null) tenant = entry.tenant;
    }
    return tenant;
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Where each API surface reads its key from. */
export const keyFrom = {
  bearer: (req: Request) => /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '')?.[1]?.trim(),
  header: (name: string) => (req: Request) => req.get(name) ?? undefined,
};

/** Puts the caller's tenant in `res.locals.tenant`, or fails with 401 (in the surface's own error shape). */
export function requireKey(keyring: Keyring, read: (req: Request) => string | undefined): RequestHandler {
  return (req, res, next) => {
    const tenant = keyring.tenantFor(read(req));
    if (tenant === null) return next(new UnauthorizedError());
    res.locals.tenant = tenant;
    next();
  };
}

/** The caller's tenant, set by `requireKey` ('' when auth is off). */
export function tenantOf(res: Response): string {
  return (res.locals.tenant as string | undefined) ?? '';
}
