import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { RedisCluster } from './redis-cluster.ts';

let cluster: RedisCluster;
let client: Cluster;

beforeAll(async () => {
  cluster = await RedisCluster.start({ masters: 3 });
  client = new Cluster(cluster.addresses.map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })));
}, 30_000);
afterAll(async () => {
  client?.disconnect();
  await cluster?.dispose();
});

describe('RedisCluster', () => {
  it('starts three masters on private ports that all report cluster_state:ok', async () => {
    expect(cluster.nodes).toMatch(/^127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/);
    expect(cluster.url).toBe(`redis+cluster://${cluster.nodes}`);
    expect(cluster.addresses).not.toContain('127.0.0.1:6379');
    for (const address of cluster.addresses) {
      const node = new Redis(Number(address.split(':')[1]), '127.0.0.1');
      const info = (await node.call('CLUSTER', 'INFO')) as string;
      const myself = ((await node.call('CLUSTER', 'NODES')) as string).split('\n').find((l) => l.includes('myself'));
      node.disconnect();
      expect(info).toContain('cluster_state:ok');
      expect(info).toContain('cluster_known_nodes:3');
      expect(myself).toMatch(/myself,master/);
    }
  });

  it('puts keys of different slots on different nodes, and keys of one hash tag on one', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    const tagged = Array.from({ length: 10 }, (_, i) => `s:{one}:${i}`);
    await Promise.all([...keys, ...tagged].map((k) => client.set(k, '1')));

    const masters = client.nodes('master');
    expect(masters).toHaveLength(3);
    const perNode = await Promise.all(masters.map((node) => node.keys('*')));
    // Every master holds some of the untagged keys; each key exactly once.
    for (const local of perNode) expect(local.some((k) => keys.includes(k))).toBe(true);
    expect(perNode.flat().sort()).toEqual([...keys, ...tagged].sort());
    // The hash-tagged keys all live on one node.
    expect(perNode.filter((local) => local.some((k) => tagged.includes(k)))).toHaveLength(1);
    expect(perNode.find((local) => local.includes('s:{one}:0'))?.filter((k) => tagged.includes(k))).toHaveLength(10);
  });
});
