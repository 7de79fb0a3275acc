import { describe, expect, it } from 'vitest';
import { keySlot } from './keys.ts';
import {
  CLUSTER_SLOTS,
  parseShardList,
  queueShardPrefixes,
  queueShards,
  shardOf,
  splitConcurrency,
} from './queue-shards.ts';

describe('shardOf', () => {
  it('is stable: the same session always maps to the same shard, in any process', () => {
    // Fixed values (FNV-1a 32: 'a' → 0xe40c292c, 'b' → 0xe70c2de5, 'hello' → 0x4f9f2cab):
    // a change here would move live sessions to other shards.
    expect([shardOf('a', 16), shardOf('b', 16), shardOf('hello', 16), shardOf('5f0c2a3e-1b7d-4c9a-9e2f-0d4b6a8c1e3f', 16)]).toEqual([
      12, 5, 11, 2,
    ]);
    expect(shardOf('anything', 1)).toBe(0);
  });

  it('spreads session ids evenly over the shards', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[shardOf(`${i.toString(36)}-${(i * 7919).toString(16)}`, 16)]!++;
    // 1,000 expected per shard.
    expect(Math.min(...counts)).toBeGreaterThan(850);
    expect(Math.max(...counts)).toBeLessThan(1150);
  });
});

describe('queueShardPrefixes', () => {
  it('keeps the unsharded layout for one shard', () => {
    expect(queueShardPrefixes('baton', 'turns', 1)).toEqual(['{baton}']);
  });

  it('puts each shard under its own hash tag, in its own even range of slots', () => {
    for (const shards of [2, 3, 16, 64, 256]) {
      const prefixes = queueShardPrefixes('baton', 'turns', shards);
      expect(prefixes).toHaveLength(shards);
      expect(prefixes[0]).toMatch(/^\{baton:t0(\.\d+)?\}$/);
      prefixes.forEach((prefix, i) => {
        const slot = keySlot(`${prefix}:turns:wait`);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((i * CLUSTER_SLOTS) / shards));
        expect(slot).toBeLessThan(Math.floor(((i + 1) * CLUSTER_SLOTS) / shards));
      });
    }
    expect(queueShardPrefixes('baton', 'webhooks', 4).every((p) => p.startsWith('{baton:w'))).toBe(true);
  });

  it('spreads 16 shards over 3 evenly split masters as 6/5/5', () => {
    const masterOf = (slot: number) => Math.floor((slot * 3) / CLUSTER_SLOTS);
    const perMaster = [0, 0, 0];
    for (const prefix of queueShardPrefixes('baton', 'turns', 16)) perMaster[masterOf(keySlot(prefix))]!++;
    expect([...perMaster].sort((a, b) => a - b)).toEqual([5, 5, 6]);
  });

  it('is the same in every process (a pure function of prefix, queue and count)', () => {
    expect(queueShardPrefixes('baton', 'turns', 16)).toEqual(queueShardPrefixes('baton', 'turns', 16));
    expect(() => queueShardPrefixes('baton', 'turns', 0)).toThrow(/1 to 256/);
    expect(() => queueShardPrefixes('baton', 'turns', 257)).toThrow(/1 to 256/);
  });
});

describe('parseShardList', () => {
  it('reads numbers and ranges', () => {
    expect(parseShardList('0-3,8, 12-13', 16)).toEqual([0, 1, 2, 3, 8, 12, 13]);
    expect(parseShardList('5', 16)).toEqual([5]);
  });
  it('rejects what is not a shard of the layout', () => {
    expect(() => parseShardList('0-16', 16)).toThrow(/numbered 0 to 15/);
    expect(() => parseShardList('7-3', 16)).toThrow(/low to high/);
    expect(() => parseShardList('x', 16)).toThrow(/not a shard number/);
    expect(() => parseShardList(',', 16)).toThrow(/names no shard/);
  });
});

describe('splitConcurrency', () => {
  it('splits the total evenly, at least one each', () => {
    expect(splitConcurrency(16, 16)).toEqual(new Array(16).fill(1));
    expect(splitConcurrency(10, 4)).toEqual([3, 3, 2, 2]);
    expect(splitConcurrency(2, 4)).toEqual([1, 1, 1, 1]);
    expect(splitConcurrency(7, 1)).toEqual([7]);
  });
});

describe('queueShards', () => {
  it('defaults to 16 on a Redis Cluster and 1 on a single server; webhooks follow turns', () => {
    expect(queueShards({ REDIS_URL: 'redis://127.0.0.1:6380' })).toEqual({ turns: 1, webhooks: 1 });
    expect(queueShards({ REDIS_URL: 'redis+cluster://a:1,b:2' })).toEqual({ turns: 16, webhooks: 16 });
    expect(queueShards({ REDIS_URL: 'redis://x', TURN_QUEUE_SHARDS: 4 })).toEqual({ turns: 4, webhooks: 4 });
    expect(queueShards({ REDIS_URL: 'redis://x', TURN_QUEUE_SHARDS: 4, WEBHOOK_QUEUE_SHARDS: 2 })).toEqual({ turns: 4, webhooks: 2 });
  });
});
