import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { AppError } from '@baton/core';

export class UnauthorizedError extends AppError {
  constructor(message = 'A valid API key is required') {
    super(401, 'unauthorized', message);
  }
}

/** Who a valid key belongs to: its tenant ('' sees every session), and whether it is the admin key. */
export interface Caller {
  tenant: string;
  admin: boolean;
  /** Set for a key minted for one conversation: it may reach that conversation only. */
  conversation?: string;
}

/**
 * The configured API keys (`API_KEYS`) and the admin key (`ADMIN_KEY`). With no API keys,
 * auth is off and every request is tenant ''. Each API key is its own tenant, named by a
 * hash of the key; the admin key is tenant '', which sees every tenant's sessions (as with
 * auth off). Keys themselves are never stored, logged or compared other than in constant time.
 */
export class Keyring {
  private readonly digests: { digest: Buffer; caller: Caller }[];

  constructor(keys: string[], adminKey?: string) {
    this.digests = keys.map((key) => {
      const digest = sha256(key);
      return { digest, caller: { tenant: `t_${digest.toString('hex').slice(0, 16)}`, admin: false } };
    });
    // Only with API keys: without them every request already sees everything.
    if (keys.length > 0 && adminKey) this.digests.push({ digest: sha256(adminKey), caller: { tenant: '', admin: true } });
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The caller a presented key names, or null when it is not a valid key. */
  callerFor(presented: string | undefined): Caller | null {
    if (!this.enabled) return { tenant: '', admin: false };
    if (!presented) return null;
    const digest = sha256(presented);
    let caller: Caller | null = null;
    // Compare with every key (no early exit): the time taken says nothing about which matched.
    for (const entry of this.digests) {
      if (timingSafeEqual(entry.digest, digest) && caller === null) caller = entry.caller;
    }
    return caller;
  }

  /**
   * An HMAC of `data` under the digest of the tenant's own API key (held in memory only),
   * or null when the tenant has no API key here (auth off, the admin key's tenant '').
   * Keys minted for one conversation are derived this way, so they can be shown again
   * to the tenant without being stored.
   */
  mint(tenant: string, data: string): Buffer | null {
    const entry = this.digests.find((e) => !e.caller.admin && e.caller.tenant === tenant);
    return entry ? createHmac('sha256', entry.digest).update(data, 'utf8').digest() : null;
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

/** Another kind of key a surface accepts (keys minted for one conversation). */
export type KeyFallback = (presented: string) => Promise<Caller | null>;

/**
 * Puts the caller's tenant in `res.locals.tenant` (and, for a key minted for one
 * conversation, its id in `res.locals.conversation`), or fails with 401 (in the
 * surface's own error shape).
 */
export function requireKey(keyring: Keyring, read: (req: Request) => string | undefined, fallback?: KeyFallback): RequestHandler {
  const accept = (res: Response, caller: Caller) => {
    res.locals.tenant = caller.tenant;
    res.locals.admin = caller.admin;
    if (caller.conversation) res.locals.conversation = caller.conversation;
  };
  return (req, res, next) => {
    const presented = read(req);
    const caller = keyring.callerFor(presented);
    if (caller !== null) {
      accept(res, caller);
      return next();
    }
    if (!fallback || !presented) return next(new UnauthorizedError());
    fallback(presented).then((found) => {
      if (found === null) return next(new UnauthorizedError());
      accept(res, found);
      next();
    }, next);
  };
}

/** The one conversation a minted key may reach, or undefined for a tenant's own key. */
export function conversationOf(res: Response): string | undefined {
  return res.locals.conversation as string | undefined;
}

/** The caller's tenant, set by `requireKey` ('' when auth is off, or for the admin key). */
export function tenantOf(res: Response): string {
  return (res.locals.tenant as string | undefined) ?? '';
}

/** True when the caller presented the admin key. */
export function isAdmin(res: Response): boolean {
  return res.locals.admin === true;
}
