import { type ChatMessage, StorageQuotaError, globalKeys, sessionKeys } from '@baton/core';
import type { RedisClient } from './connections.ts';
import { callScript, defineScripts } from './scripts.ts';

/** The bytes a message takes in a history, as counted against TENANT_MAX_BYTES (its JSON). */
export function messageBytes(message: ChatMessage): number {
  return Buffer.byteLength(JSON.stringify(message));
}

/**
 * Per-tenant storage quota (`TENANT_MAX_BYTES`): the bytes of the messages a tenant's sessions
 * hold, approximately. Each session counts its own (`bytes` in its meta, by usage-add.lua, only
 * while it exists); the tenant's counter (`<prefix>:usage:bytes:<tenant>`, another slot) gets
 * the same additions and loses a session's count when it is deleted, or once it has expired
 * (SESSION_TTL_S: its expiry hash counts them too, for the reaper). Checked before a write
 * (writes racing at the edge may pass it by a little). Sessions with no tenant (auth off, the
 * admin key) are not counted.
 */
export class TenantUsage {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    readonly maxBytes: number,
  ) {
    defineScripts(redis);
  }

  private key(tenant: string): string {
    return globalKeys(this.prefix).tenantBytes(tenant);
  }

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** Throws 403 `storage_quota_exceeded` when the tenant is at its quota. */
  async check(tenant: string): Promise<void> {
    if (!tenant || !this.enabled) return;
    if (Number((await this.redis.get(this.key(tenant))) ?? 0) >= this.maxBytes) throw new StorageQuotaError(this.maxBytes);
  }

  async used(tenant: string): Promise<number> {
    return Number((await this.redis.get(this.key(tenant))) ?? 0);
  }

  /** Counts `bytes` more in the session (if it still exists) and its tenant. */
  async add(sessionId: string, bytes: number): Promise<void> {
    if (!this.enabled || bytes <= 0) return;
    const k = sessionKeys(this.prefix, sessionId);
    const tenant = await callScript(this.redis, 'usageAdd', [k.meta, k.expiry], [bytes]);
    if (typeof tenant === 'string' && tenant) await this.redis.incrby(this.key(tenant), bytes);
  }

  /** What a session counts, read before it is deleted: `forget` takes it off its tenant afterwards. */
  async ofSession(sessionId: string): Promise<{ tenant: string; bytes: number }> {
    const [tenant, bytes] = await this.redis.hmget(sessionKeys(this.prefix, sessionId).meta, 'tenant', 'bytes');
    return { tenant: tenant ?? '', bytes: Number(bytes ?? 0) };
  }

  async forget(count: { tenant: string; bytes: number }): Promise<void> {
    if (count.tenant && count.bytes > 0) await this.redis.decrby(this.key(count.tenant), count.bytes);
  }
}
