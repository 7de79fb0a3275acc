/**
 * Sharded BullMQ queues. A BullMQ queue keeps all its keys under one prefix, and Baton's
 * prefixes are hash tags, so one queue is one Redis Cluster slot: one master. With
 * `shards` > 1 the turn (and webhook) queue is split into that many queues, each under
 * a hash tag of its own, chosen so that the tags' slots are spread evenly over the
 * 16384 slots (a cluster's masters own even, contiguous slot ranges). A session always
 * maps to the same shard, so its turns keep their order.
 *
 * One shard is the original layout: the prefix `{<prefix>}`, unchanged.
 */

import { keySlot } from './keys.ts';

const utf8 = new TextEncoder();

export const CLUSTER_SLOTS = 16384;
/** Most shards a queue may have: each is a BullMQ Worker (and a blocking connection) in every worker process. */
export const MAX_QUEUE_SHARDS = 256;

/** The queues that are sharded, and the letter of their hash tags. */
export type ShardedQueueKind = 'turns' | 'webhooks';
const TAG_LETTER: Record<ShardedQueueKind, string> = { turns: 't', webhooks: 'w' };

/**
 * The shard of a session: FNV-1a (32 bits) of its id, modulo the shard count. Stable
 * across processes and releases; changing it would move live sessions between shards.
 */
export function shardOf(sessionId: string, shards: number): number {
  if (shards <= 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(sessionId)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/**
 * BullMQ prefixes of a queue's shards. Shard i's hash tag is `<prefix>:<t|w><i>` (or
 * `<prefix>:<t|w><i>.<n>`, the first n that fits) whose slot lies in the i-th of `shards`
 * even ranges of the slot space, so consecutive shards sit on consecutive slot ranges
 * and every master of an evenly split cluster gets its share. One shard: `{<prefix>}`.
 */
export function queueShardPrefixes(prefix: string, kind: ShardedQueueKind, shards: number): string[] {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_QUEUE_SHARDS) {
    throw new RangeError(`shards must be an integer from 1 to ${MAX_QUEUE_SHARDS}`);
  }
  if (shards === 1) return [`{${prefix}}`];
  return Array.from({ length: shards }, (_, i) => {
    const low = Math.floor((i * CLUSTER_SLOTS) / shards);
    const high = Math.floor(((i + 1) * CLUSTER_SLOTS) / shards);
    const base = `${prefix}:${TAG_LETTER[kind]}${i}`;
    for (let n = 0; ; n++) {
      const tag = n === 0 ? base : `${base}.${n}`;
      const slot = keySlot(`{${tag}}`);
      if (slot >= low && slot < high) return `{${tag}}`;
    }
  });
}

/**
 * Parses a shard selection such as `0-7`, `3` or `0-3,8,12-15` (WORKER_SHARDS) into
 * sorted shard numbers below `shards`; throws a message naming the bad part.
 */
export function parseShardList(text: string, shards: number): number[] {
  const picked = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!match) throw new RangeError(`"${part}" is not a shard number or range (e.g. 0-7,12)`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (to < from) throw new RangeError(`"${part}": a range goes from low to high`);
    if (to >= shards) throw new RangeError(`"${part}": shards are numbered 0 to ${shards - 1}`);
    for (let s = from; s <= to; s++) picked.add(s);
  }
  if (picked.size === 0) throw new RangeError('names no shard');
  return [...picked].sort((a, b) => a - b);
}

/**
 * Splits a process's total concurrency between the shards it consumes: each gets an
 * even share, the remainder going to the first ones, and at least 1 (so with fewer
 * slots than shards the process may run up to one job per shard).
 */
export function splitConcurrency(total: number, shardCount: number): number[] {
  return Array.from({ length: shardCount }, (_, i) =>
    Math.max(1, Math.floor(total / shardCount) + (i < total % shardCount ? 1 : 0)),
  );
}

/** The shard count used when TURN_QUEUE_SHARDS is unset: 16 on a Redis Cluster, else 1. */
export const CLUSTER_DEFAULT_SHARDS = 16;

export interface QueueShards {
  turns: number;
  webhooks: number;
}

/** TURN_QUEUE_SHARDS / WEBHOOK_QUEUE_SHARDS as set, else the default for the Redis URL. */
export function queueShards(env: { REDIS_URL: string; TURN_QUEUE_SHARDS?: number | undefined; WEBHOOK_QUEUE_SHARDS?: number | undefined }): QueueShards {
  const turns = env.TURN_QUEUE_SHARDS ?? (/^rediss?\+cluster:\/\//i.test(env.REDIS_URL) ? CLUSTER_DEFAULT_SHARDS : 1);
  return { turns, webhooks: env.WEBHOOK_QUEUE_SHARDS ?? turns };
}
