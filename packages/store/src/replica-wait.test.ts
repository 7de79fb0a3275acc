import { afterAll, beforeAll, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { ReplicationTimeoutError, keySlot, newSessionId, sessionKeys } from '@baton/core';
import { RedisCluster } from '@baton/devtools';
import { makeRedisClient } from './connections.ts';
import { ReplicaWait } from './replica-wait.ts';

/**
 * WAIT has no key to route by: on a Redis Cluster it must go to the master that holds the
 * session's slot (the one the accepting write went to). This cluster has no replicas, so
 * WAIT 1 answers 0 after its timeout; `INFO commandstats` shows which master was asked.
 */
let cluster: RedisCluster;
let client: Cluster;
const prefix = 'wait';

// Building a 3-master cluster takes longer than the unit project's 10 s hook limit on a busy machine.
beforeAll(async () => {
  cluster = await RedisCluster.start();
  client = makeRedisClient(`redis+cluster://${cluster.nodes}`, { maxRetriesPerRequest: 1 }) as Cluster;
  await client.ping();
}, 60_000);
afterAll(async () => {
  client?.disconnect();
  await cluster?.dispose();
});

async function waitCalls(address: string): Promise<number> {
  const node = new Redis(`redis://${address}`);
  try {
    return Number(/^cmdstat_wait:calls=(\d+)/m.exec(await node.info('commandstats'))?.[1] ?? 0);
  } finally {
    node.disconnect();
  }
}

it('sends WAIT to the master owning the session slot, and throws replication_timeout when too few replicas answer', async () => {
  const wait = new ReplicaWait(client, { prefix, replicas: 1, timeoutMs: 20 });
  for (let i = 0; i < 3; i++) {
    const sessionId = newSessionId();
    const owner = client.slots[keySlot(sessionKeys(prefix, sessionId).meta)]?.[0] as string;
    const before = await Promise.all(cluster.addresses.map(waitCalls));
    const err = await wait.confirm(sessionId).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicationTimeoutError);
    expect(err).toMatchObject({ status: 503, code: 'replication_timeout' });
    const after = await Promise.all(cluster.addresses.map(waitCalls));
    const asked = cluster.addresses.filter((_, n) => (after[n] ?? 0) > (before[n] ?? 0));
    expect(asked).toEqual([owner]);
  }
});
