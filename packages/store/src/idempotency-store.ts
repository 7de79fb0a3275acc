import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from './connections.ts';

/** A response as it was sent, kept to be replayed. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** `owner`: a pending record's request (an id of its own), so that request knows its own record. */
type IdempotencyRecord = { fingerprint: string } & ({ state: 'pending'; owner?: string } | ({ state: 'done' } & StoredResponse));

export type BeginResult =
  /** The key is new: run the request, then `complete` (or `abandon`) it. */
  | { kind: 'new' }
  /** The same key came with a different request. */
  | { kind: 'mismatch' }
  /** The first request with this key has not answered yet. */
  | { kind: 'in_flight' }
  | { kind: 'replay'; response: StoredResponse };

/**
 * Idempotency-Key records (IETF httpapi-idempotency-key draft), one Redis string per
 * tenant and key: first `pending` (short-lived, so a crashed request frees its key),
 * then the response as sent, kept `ttlMs`. Keys are hashed: any length, one slot each.
 */
export class IdempotencyStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly options: { prefix: string; ttlMs: number; pendingTtlMs: number },
  ) {}

  private key(tenant: string, key: string): string {
    const digest = createHash('sha256').update(key).digest('base64url');
    return `${this.options.prefix}:idem:${tenant || '-'}:${digest}`;
  }

  async begin(tenant: string, key: string, fingerprint: string): Promise<BeginResult> {
    const redisKey = this.key(tenant, key);
    const owner = randomUUID();
    const pending: IdempotencyRecord = { fingerprint, state: 'pending', owner };
    const set = await this.redis.set(redisKey, JSON.stringify(pending), 'PX', this.options.pendingTtlMs, 'NX');
    if (set === 'OK') return { kind: 'new' };
    const raw = await this.redis.get(redisKey);
    // Expired between the two commands: the first request's pending record ran out; treat it as still running.
    if (raw === null) return { kind: 'in_flight' };
    const record = JSON.parse(raw) as IdempotencyRecord;
    if (record.fingerprint !== fingerprint) return { kind: 'mismatch' };
    // Our own record: the SET ran, its reply was lost to a reconnect and ioredis sent it again.
    if (record.state === 'pending' && record.owner === owner) return { kind: 'new' };
    if (record.state === 'pending') return { kind: 'in_flight' };
    return { kind: 'replay', response: { status: record.status, headers: record.headers, body: record.body } };
  }

  async complete(tenant: string, key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    const record: IdempotencyRecord = { fingerprint, state: 'done', ...response };
    await this.redis.set(this.key(tenant, key), JSON.stringify(record), 'PX', this.options.ttlMs);
  }

  /** Frees the key (the request failed on the server's side: a retry may run it). */
  async abandon(tenant: string, key: string): Promise<void> {
    await this.redis.del(this.key(tenant, key));
  }
}
