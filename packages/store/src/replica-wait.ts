import type { Cluster, Redis } from 'ioredis';
import { ReplicationTimeoutError, keySlot, sessionKeys } from '@baton/core';
import type { RedisClient } from './connections.ts';

/**
 * Strict durability (`REDIS_WAIT_REPLICAS`): after the write that accepts a turn or makes a
 * session, `WAIT replicas timeout` on the connection that wrote it, to the master that holds
 * the session (on a cluster, the one owning its slot). WAIT counts the replicas that have
 * everything this connection wrote so far, so one WAIT also covers the writes of the other
 * requests sharing the connection. Fewer than asked: `ReplicationTimeoutError` (503) — the
 * write is on the master and may or may not survive a failover; the client retries under its
 * Idempotency-Key and gets the same turn or session back.
 */
export class ReplicaWait {
  constructor(
    private readonly redis: RedisClient,
    readonly options: { prefix: string; replicas: number; timeoutMs: number },
  ) {}

  /** The connection that wrote the session's keys: the one server, or its slot's master. */
  private nodeFor(sessionId: string): Redis {
    if (!this.redis.isCluster) return this.redis as Redis;
    const cluster = this.redis as Cluster;
    const address = cluster.slots[keySlot(sessionKeys(this.options.prefix, sessionId).meta)]?.[0];
    const node = cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === address);
    if (!node) throw new Error(`no connection to the master of session ${sessionId}'s slot (${address ?? 'unknown'})`);
    return node;
  }

  /** Resolves once `replicas` replicas have the session's writes; throws ReplicationTimeoutError otherwise. */
  async confirm(sessionId: string): Promise<void> {
    const { replicas, timeoutMs } = this.options;
    const acked = await this.nodeFor(sessionId).wait(replicas, timeoutMs);
    if (acked < replicas) throw new ReplicationTimeoutError(acked, replicas, timeoutMs);
  }
}
