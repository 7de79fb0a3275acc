import { type GlobalKeys, globalKeys, sessionKeys } from '@baton/core';
import type { RedisClient } from './connections.ts';
import { callScript, defineScripts } from './scripts.ts';

/** A session's member in the session indexes: `<created ms, 13 digits>:<session id>` (creation order). */
export function indexMember(createdMs: number, sessionId: string): string {
  return `${String(createdMs).padStart(13, '0')}:${sessionId}`;
}

/** What an expired session still counts: its index entries (by `created`) and its tenant's bytes. */
export interface ExpiredSession {
  created: number;
  tenant: string;
  bytes: number;
}

/** One pass over the entries due: how many there were, were released (gone), and failed (retried later). */
export interface ExpirySweep {
  due: number;
  released: number;
  failed: number;
}

/**
 * Idle sessions that expire (SESSION_TTL_S). Their keys carry Redis TTLs, set by the scripts
 * that write them (expiry.lua), so Redis removes a session by itself, at no cost per session.
 * What cannot expire by itself — its entries in the session indexes (listing, counts and
 * TENANT_MAX_SESSIONS), its bytes in its tenant's TENANT_MAX_BYTES counter — is released
 * afterwards: each such session has an entry in the expiring index (a sorted set: when to look
 * at it), which the reaper drains; a look at a live session puts its entry back at the time its
 * keys expire, so each session is looked at about once per ttl while it lives. A session made
 * again with the id of one that expired releases what the old one left at once (create.lua).
 */
export class SessionExpiry {
  private readonly keys: GlobalKeys;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {
    defineScripts(redis);
    this.keys = globalKeys(prefix);
  }

  /**
   * Has the reaper look at the session by `at` (never later than a look already due; the entry's
   * score always changes, so a reaper that read the old one does not remove it).
   */
  async schedule(sessionId: string, at: number): Promise<void> {
    await callScript(this.redis, 'markRunning', [this.keys.expiring], [sessionId, at]);
  }

  /** Takes an expired session off the session indexes and its bytes off its tenant's counter. */
  async release(sessionId: string, expired: ExpiredSession): Promise<void> {
    const member = indexMember(expired.created, sessionId);
    const { tenant, bytes } = expired;
    await Promise.all([
      this.redis.zrem(this.keys.sessionIndex, member),
      tenant ? this.redis.zrem(this.keys.tenantSessions(tenant), member) : null,
      tenant && bytes > 0 ? this.redis.decrby(this.keys.tenantBytes(tenant), bytes) : null,
    ]);
  }

  /**
   * Looks at the entries due by `upTo` (at most `limit`, after the first `skip`, earliest first):
   * an expired session is released, a live one looked at again when its keys expire, and the
   * entry of one that is deleted (or does not expire) dropped.
   */
  async sweep(limit: number, upTo = this.now(), skip = 0): Promise<ExpirySweep> {
    const flat = await this.redis.zrangebyscore(this.keys.expiring, '-inf', upTo, 'WITHSCORES', 'LIMIT', skip, limit);
    const entries: { sessionId: string; dueAt: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) entries.push({ sessionId: flat[i] as string, dueAt: Number(flat[i + 1]) });
    const results = await Promise.allSettled(entries.map((entry) => this.look(entry.sessionId, entry.dueAt)));
    return {
      due: entries.length,
      released: results.filter((r) => r.status === 'fulfilled' && r.value).length,
      failed: results.filter((r) => r.status === 'rejected').length,
    };
  }

  /** One due entry; true when its session had expired and was released now. */
  private async look(sessionId: string, dueAt: number): Promise<boolean> {
    const k = sessionKeys(this.prefix, sessionId);
    const reply = (await callScript(this.redis, 'expireCheck', [k.meta, k.expiry, k.events, k.stream], [])) as (string | number)[];
    if (reply[0] === 'alive') {
      const leftMs = Number(reply[1]);
      const ttlMs = Number(reply[2]);
      if (ttlMs > 0) {
        // Its keys expire in `leftMs`; while a turn runs or waits they do not (-1): a ttl later at the earliest.
        await this.redis.zadd(this.keys.expiring, this.now() + (leftMs > 0 ? leftMs : ttlMs), sessionId);
        return false;
      }
    }
    const expired = reply[0] === 'gone';
    if (expired) await this.release(sessionId, { created: Number(reply[1]), tenant: String(reply[2] ?? ''), bytes: Number(reply[3] ?? 0) });
    // Dropped unless the entry changed meanwhile (a session made again with this id scheduled its own look).
    await callScript(this.redis, 'releaseCheck', [this.keys.expiring], [sessionId, dueAt]);
    return expired;
  }
}
