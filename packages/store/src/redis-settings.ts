import { once } from 'node:events';
import type { Cluster, Redis } from 'ioredis';
import { ConfigError } from '@baton/core';
import type { RedisClient } from './connections.ts';

/** What one Redis server (a cluster: each master) says of the settings Baton depends on. */
export interface NodeSettings {
  node: string;
  /** `maxmemory-policy`, or null when neither `CONFIG GET` nor `INFO memory` could be read. */
  policy: string | null;
  /** Why the policy could not be read. */
  policyError?: string;
  /** True: no AOF and no RDB save points; false: some persistence; null: unknown (CONFIG not permitted). */
  persistenceOff: boolean | null;
}

export interface SettingsReport {
  nodes: NodeSettings[];
  /** Lines to log as warnings (once, at start). */
  warnings: string[];
}

const EVICTION_FIX =
  'Set `maxmemory-policy noeviction` (in redis.conf, or `CONFIG SET maxmemory-policy noeviction` then `CONFIG REWRITE`), ' +
  'or set REDIS_ALLOW_EVICTION=true to start anyway (Redis may then delete sessions, turns and queued jobs when it is full).';

/** The masters to check: each master of a cluster, else the one server. */
async function masters(redis: RedisClient): Promise<Redis[]> {
  if (!redis.isCluster) return [redis as Redis];
  const cluster = redis as Cluster;
  if (cluster.status === 'wait') await cluster.connect();
  // Its masters are known once it is ready (it has read the slot map).
  if (cluster.status !== 'ready') await once(cluster, 'ready');
  return cluster.nodes('master');
}

function nodeName(node: Redis): string {
  return `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`;
}

/** `CONFIG GET name` → the value; throws when CONFIG is not permitted (managed Redis, ACLs, renamed command). */
async function configGet(node: Redis, name: string): Promise<string> {
  const reply = (await node.call('CONFIG', 'GET', name)) as string[];
  if (reply.length < 2) throw new Error(`CONFIG GET ${name} answered nothing`);
  return reply[1] as string;
}

/** A field of an `INFO <section>` reply, or null. */
async function infoField(node: Redis, section: string, field: string): Promise<string | null> {
  const info = (await node.call('INFO', section)) as string;
  const match = new RegExp(`^${field}:(.*)$`, 'm').exec(info);
  return match ? (match[1] as string).trim() : null;
}

async function readNode(node: Redis): Promise<NodeSettings> {
  const name = nodeName(node);
  let policy: string | null = null;
  let policyError: string | undefined;
  try {
    policy = await configGet(node, 'maxmemory-policy');
  } catch (configErr) {
    // Managed Redis often forbids CONFIG; INFO memory carries the policy too (Redis ≥ 4).
    try {
      policy = await infoField(node, 'memory', 'maxmemory_policy');
      if (policy === null) policyError = `CONFIG GET failed (${(configErr as Error).message}) and INFO memory has no maxmemory_policy`;
    } catch (infoErr) {
      policyError = `CONFIG GET failed (${(configErr as Error).message}), INFO memory failed (${(infoErr as Error).message})`;
    }
  }
  let persistenceOff: boolean | null = null;
  try {
    const [aof, save] = await Promise.all([configGet(node, 'appendonly'), configGet(node, 'save')]);
    persistenceOff = aof === 'no' && save.trim() === '';
  } catch {
    // Not permitted: managed services configure persistence their own way; nothing to say.
  }
  return { node: name, policy, ...(policyError ? { policyError } : {}), persistenceOff };
}

/**
 * Checks the Redis settings Baton's promises rest on, on every master:
 * - `maxmemory-policy` must be `noeviction`: under any other policy a full Redis deletes
 *   keys, and accepted sessions and turns vanish. Throws a ConfigError naming the setting
 *   and the fix, unless `allowEviction`. When the policy cannot be read at all, a warning.
 * - persistence: with neither AOF nor RDB save points, a Redis restart loses everything
 *   (a warning).
 */
export async function checkRedisSettings(redis: RedisClient, options: { allowEviction: boolean }): Promise<SettingsReport> {
  const nodes = await Promise.all((await masters(redis)).map(readNode));
  const warnings: string[] = [];
  const evicting = nodes.filter((n) => n.policy !== null && n.policy !== 'noeviction');
  if (evicting.length && !options.allowEviction) {
    const which = evicting.map((n) => `${n.node} has maxmemory-policy ${n.policy}`).join('; ');
    throw new ConfigError(`Redis would evict Baton's data: ${which}. ${EVICTION_FIX}`);
  }
  for (const n of evicting) {
    warnings.push(`Redis at ${n.node} has maxmemory-policy ${n.policy} (REDIS_ALLOW_EVICTION=true): when it is full it deletes keys, and accepted sessions and turns may vanish`);
  }
  for (const n of nodes) {
    if (n.policy === null) {
      warnings.push(`Could not read maxmemory-policy of Redis at ${n.node} (${n.policyError}): make sure it is noeviction, or accepted sessions may be evicted when Redis is full`);
    }
    if (n.persistenceOff) {
      warnings.push(`Redis at ${n.node} has no persistence (appendonly no, no save points): a Redis restart loses every session and accepted turn. Set \`appendonly yes\` for production`);
    }
  }
  return { nodes, warnings };
}
