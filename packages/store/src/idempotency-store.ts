import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from './connections.ts';
import { callScript, defineScripts } from './scripts.ts';

/** A response as it was sent, kept to be replayed. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** `owner`: a pending record's request (an id of its own), so that request knows its own record. */
type IdempotencyRecord = { fingerprint: string } & ({ state: 'pending'; owner?: string } | ({ state: 'done' } & StoredResponse));

export type BeginResult =
  /**
   * The key is new: run the request, `renew` the hold while it runs, then `complete` (or
   * `abandon`) it. `owner` identifies this request's hold.
   */
  | { kind: 'new'; owner: string }
  /** The same key came with a different request. */
  | { kind: 'mismatch' }
  /** The first request with this key has not answered yet; its hold lapses within `retryAfterMs` unless renewed. */
  | { kind: 'in_flight'; retryAfterMs: number }
  | { kind: 'replay'; response: StoredResponse };

/**
 * Idempotency-Key records (IETF httpapi-idempotency-key draft), one Redis string per
 * tenant and key: first `pending`, a hold that lapses after `pendingTtlMs` unless the
 * request renews it (so a crashed request frees its key soon), then the response as sent,
 * kept `ttlMs`. Keys are hashed: any length, one slot each.
 */
export class IdempotencyStore {
  constructor(
    private readonly redis: RedisClient,
    /** `maxBodyBytes`: the largest response body kept for replay (default 64 KiB); see `keepsBody`. */
    readonly options: { prefix: string; ttlMs: number; pendingTtlMs: number; maxBodyBytes?: number },
  ) {
    defineScripts(redis);
  }

  private key(tenant: string, key: string): string {
    const digest = createHash('sha256').update(key).digest('base64url');
    return `${this.options.prefix}:idem:${tenant || '-'}:${digest}`;
  }

  async begin(tenant: string, key: string, fingerprint: string): Promise<BeginResult> {
    const redisKey = this.key(tenant, key);
    const owner = randomUUID();
    const pending: IdempotencyRecord = { fingerprint, state: 'pending', owner };
    const set = await this.redis.set(redisKey, JSON.stringify(pending), 'PX', this.options.pendingTtlMs, 'NX');
    if (set === 'OK') return { kind: 'new', owner };
    const [raw, pttl] = await Promise.all([this.redis.get(redisKey), this.redis.pttl(redisKey)]);
    // Expired between the two commands: the first request's hold ran out; treat it as still running.
    if (raw === null) return { kind: 'in_flight', retryAfterMs: 0 };
    const record = JSON.parse(raw) as IdempotencyRecord;
    if (record.fingerprint !== fingerprint) return { kind: 'mismatch' };
    // Our own record: the SET ran, its reply was lost to a reconnect and ioredis sent it again.
    if (record.state === 'pending' && record.owner === owner) return { kind: 'new', owner };
    if (record.state === 'pending') return { kind: 'in_flight', retryAfterMs: Math.max(0, pttl) };
    return { kind: 'replay', response: { status: record.status, headers: record.headers, body: record.body } };
  }

  /**
   * Whether a response body is small enough to keep. A larger one is not kept: the key is
   * freed instead (as after a 5xx), so a retry runs the request again — a message's retry
   * still gets its turn back, recorded under the key by the script that accepted it, and a
   * session's its session; other requests run again.
   */
  keepsBody(body: string): boolean {
    return Buffer.byteLength(body) <= (this.options.maxBodyBytes ?? 65_536);
  }

  async complete(tenant: string, key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    const record: IdempotencyRecord = { fingerprint, state: 'done', ...response };
    await this.redis.set(this.key(tenant, key), JSON.stringify(record), 'PX', this.options.ttlMs);
  }

  /** Keeps a running request's hold for another `pendingTtlMs`; false when it is no longer held by `owner`. */
  async renew(tenant: string, key: string, owner: string): Promise<boolean> {
    return (await callScript(this.redis, 'idempotencyHold', [this.key(tenant, key)], ['renew', owner, this.options.pendingTtlMs])) === 1;
  }

  /** Frees the key (the request failed on the server's side: a retry may run it), if `owner` still holds it. */
  async abandon(tenant: string, key: string, owner: string): Promise<void> {
    await callScript(this.redis, 'idempotencyHold', [this.key(tenant, key)], ['release', owner]);
  }
}
