import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { globalKeys, keySlot, newSessionId } from '@baton/core';
import { RedisCluster } from '@baton/devtools';
import { isRedisFull, makeRedisClient } from './connections.ts';
import { SandboxStore, newSandboxId } from './sandbox-store.ts';
import { SessionStore } from './session-store.ts';

/**
 * On a Redis Cluster the masters fill up unevenly: a session's index entry (one node) may be
 * written while its session's own node is full. The entry is then taken back, so counts and
 * listings hold no trace of a session that was refused with storage_full.
 */
let cluster: RedisCluster;
let client: Cluster;
const prefix = `t-${randomUUID().slice(0, 8)}`;
const keys = globalKeys(prefix);

// Building a 3-master cluster takes longer than the unit project's 10 s hook limit on a busy machine.
beforeAll(async () => {
  cluster = await RedisCluster.start();
  client = makeRedisClient(`redis+cluster://${cluster.nodes}`, { maxRetriesPerRequest: 1 }) as Cluster;
}, 60_000);
afterAll(async () => {
  client?.disconnect();
  await cluster?.dispose();
});

const nodeOf = (key: string) => client.slots[keySlot(key)]?.[0] as string;

/** An id made by `make` whose key (`keyOf`) is on another master than `other`. */
function idAway(make: () => string, keyOf: (id: string) => string, other: string): string {
  for (;;) {
    const id = make();
    if (nodeOf(keyOf(id)) !== nodeOf(other)) return id;
  }
}

/** Makes one master refuse every write (maxmemory far below what it uses); returns the undo. */
async function fillNode(address: string): Promise<() => Promise<void>> {
  const node = new Redis(`redis://${address}`);
  await node.config('SET', 'maxmemory', '1');
  return async () => {
    await node.config('SET', 'maxmemory', '0');
    node.disconnect();
  };
}

describe('a write refused because a master is full leaves no index entry behind', () => {
  it('SessionStore.create: the session index and the tenant index', async () => {
    await client.ping();
    const store = new SessionStore(client, { prefix, runningGraceMs: 1000 });
    const sessionId = idAway(newSessionId, (id) => store.sessionKeys(id).meta, keys.sessionIndex);
    // The tenant's index must have room too, for the entry to be written and then taken back.
    const tenant = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].find((t) => nodeOf(keys.tenantSessions(t)) !== nodeOf(store.sessionKeys(sessionId).meta)) as string;
    const undo = await fillNode(nodeOf(store.sessionKeys(sessionId).meta));
    try {
      const err = await store.create({ sessionId, agent: 'echo', tenant, state: [] }).then(() => null, (e: unknown) => e);
      expect(isRedisFull(err)).toBe(true);
      expect(await client.zrange(keys.sessionIndex, 0, -1)).toEqual([]);
      expect(await client.zrange(keys.tenantSessions(tenant), 0, -1)).toEqual([]);
      expect(await client.exists(store.sessionKeys(sessionId).meta)).toBe(0);
    } finally {
      await undo();
    }
    // With room again, the same id is made at once.
    expect(await store.create({ sessionId, agent: 'echo', tenant, state: [] })).toBe(true);
    expect(await client.zcard(keys.sessionIndex)).toBe(1);
  });

  it('SandboxStore.create: the sandbox index', async () => {
    const sandboxes = new SandboxStore(client, { prefix });
    const index = `${prefix}:sandboxes`;
    const id = idAway(newSandboxId, (s) => sandboxes.keys(s).meta, index);
    const undo = await fillNode(nodeOf(sandboxes.keys(id).meta));
    try {
      const err = await sandboxes.create({ id, sandboxSpecId: 'spec' }).then(() => null, (e: unknown) => e);
      expect(isRedisFull(err)).toBe(true);
      expect(await client.zrange(index, 0, -1)).toEqual([]);
    } finally {
      await undo();
    }
    expect(await sandboxes.create({ id, sandboxSpecId: 'spec' })).toMatchObject({ id });
  });
});
