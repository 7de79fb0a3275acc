import { randomUUID } from 'node:crypto';
import { type RedisClient, isRedisFull } from './connections.ts';

/**
 * Sandboxes of the OpenHands V1 app-server surface: the execution context a group of
 * conversations (Baton sessions) run their turns in. Baton has nothing to boot, so a
 * sandbox is only a status and the ids of its conversations; pausing, resuming and
 * deleting it is done to each of its sessions by the surface, through SessionService.
 */
export const SANDBOX_STATUSES = ['STARTING', 'RUNNING', 'PAUSED', 'ERROR', 'MISSING'] as const;
export type SandboxStatus = (typeof SANDBOX_STATUSES)[number];

export interface SandboxRecord {
  id: string;
  status: SandboxStatus;
  sandbox_spec_id: string;
  /** The API key's tenant that started it ('' when auth is off). */
  tenant: string;
  created_at: string;
  updated_at: string;
  /** Its conversations (session ids), in the order they joined. */
  conversation_ids: string[];
}

export interface SandboxStoreOptions {
  /** Key prefix, the same as the session store's. */
  prefix: string;
  now?: () => number;
}

/** Why a change to a sandbox was refused: it never existed, or it was deleted (a MISSING tombstone). */
export type SandboxChange = 'ok' | 'not_found' | 'missing';

const SANDBOX_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Sandbox ids are short, URL-safe and brace-free (they go inside a key's hash tag). */
export function isSandboxId(value: string): boolean {
  return SANDBOX_ID.test(value);
}

export function newSandboxId(): string {
  return `sb-${randomUUID().replace(/-/g, '')}`;
}

const pad = (ms: number) => String(ms).padStart(13, '0');

// Each script touches the keys of one sandbox only (one hash tag, one cluster slot).
const LUA = {
  /** KEYS: meta, conversations. ARGV: id, status, spec, tenant, now, conversation ids... */
  create: `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'status', ARGV[2], 'sandbox_spec_id', ARGV[3],
  'tenant', ARGV[4], 'created_at', ARGV[5], 'updated_at', ARGV[5])
for i = 6, #ARGV do redis.call('ZADD', KEYS[2], 'NX', i - 5, ARGV[i]) end
return 1`,
  /** KEYS: meta. ARGV: status, now. Returns the previous status. */
  setStatus: `
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return {'not_found'} end
if s == 'MISSING' then return {'missing'} end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated_at', ARGV[2])
return {'ok', s}`,
  /** KEYS: meta, conversations. ARGV: conversation id, now. */
  addConversation: `
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return 'not_found' end
if s == 'MISSING' then return 'missing' end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('ZADD', KEYS[2], 'NX', (tonumber(last[2]) or 0) + 1, ARGV[1])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
return 'ok'`,
  /** KEYS: meta, conversations. Deletes the sandbox only if no conversation runs in it; returns its created_at. */
  removeIfEmpty: `
if redis.call('ZCARD', KEYS[2]) > 0 then return false end
local created = redis.call('HGET', KEYS[1], 'created_at')
if not created then return false end
redis.call('DEL', KEYS[1])
return created`,
};

type Commands = {
  batonSandboxCreate(meta: string, conversations: string, ...args: (string | number)[]): Promise<number>;
  batonSandboxSetStatus(meta: string, status: string, now: number): Promise<string[]>;
  batonSandboxAddConversation(meta: string, conversations: string, conversationId: string, now: number): Promise<SandboxChange>;
  batonSandboxRemoveIfEmpty(meta: string, conversations: string): Promise<string | null>;
};

/**
 * One Redis hash per sandbox (`<prefix>:sandbox:{<id>}`), a sorted set of its
 * conversations beside it, and an index of live sandboxes in creation order
 * (`<prefix>:sandboxes`, members `<created ms>:<id>`, like the session index).
 * A deleted sandbox stays as a MISSING tombstone, out of the index, so that its
 * conversations can still say their sandbox is gone.
 */
export class SandboxStore {
  readonly indexKey: string;
  private readonly now: () => number;
  private readonly redis: RedisClient & Commands;

  constructor(
    redis: RedisClient,
    private readonly options: SandboxStoreOptions,
  ) {
    this.redis = redis as RedisClient & Commands;
    this.indexKey = `${options.prefix}:sandboxes`;
    this.now = options.now ?? Date.now;
    redis.defineCommand('batonSandboxCreate', { numberOfKeys: 2, lua: LUA.create });
    redis.defineCommand('batonSandboxSetStatus', { numberOfKeys: 1, lua: LUA.setStatus });
    redis.defineCommand('batonSandboxAddConversation', { numberOfKeys: 2, lua: LUA.addConversation });
    redis.defineCommand('batonSandboxRemoveIfEmpty', { numberOfKeys: 2, lua: LUA.removeIfEmpty });
  }

  keys(id: string) {
    const meta = `${this.options.prefix}:sandbox:{${id}}`;
    return { meta, conversations: `${meta}:conversations` };
  }

  /** Returns null when a sandbox with that id exists already (tombstones included). */
  async create(input: {
    id?: string;
    sandboxSpecId: string;
    tenant?: string;
    status?: SandboxStatus;
    conversationIds?: string[];
  }): Promise<SandboxRecord | null> {
    const id = input.id ?? newSandboxId();
    if (!isSandboxId(id)) throw new Error(`not a sandbox id: ${JSON.stringify(id)}`);
    const now = this.now();
    const k = this.keys(id);
    const member = `${pad(now)}:${id}`;
    // Index first: a listing skips ids whose sandbox is missing, never the reverse.
    await this.redis.zadd(this.indexKey, 'NX', 0, member);
    const created = await this.redis
      .batonSandboxCreate(
      k.meta,
      k.conversations,
      id,
      input.status ?? 'RUNNING',
      input.sandboxSpecId,
      input.tenant ?? '',
      now,
      ...(input.conversationIds ?? []),
      )
      .catch(async (err: unknown) => {
        // Redis filled up (OOM) after the index entry: take it back (ZREM is allowed at maxmemory).
        if (isRedisFull(err)) await this.redis.zrem(this.indexKey, member).catch(() => undefined);
        throw err;
      });
    if (created !== 1) {
      await this.redis.zrem(this.indexKey, member);
      return null;
    }
    return this.get(id);
  }

  async get(id: string): Promise<SandboxRecord | null> {
    if (!isSandboxId(id)) return null;
    const [record] = await this.getMany([id]);
    return record ?? null;
  }

  /** One entry per id, null for those that don't exist (MISSING tombstones are returned). */
  async getMany(ids: string[]): Promise<(SandboxRecord | null)[]> {
    const valid = ids.filter(isSandboxId);
    if (!valid.length) return ids.map(() => null);
    // Sent together but not as one pipeline: on a Redis Cluster each sandbox is in its
    // own slot, and the client routes each read to its node.
    const results = await Promise.all(
      valid.map((id) => {
        const k = this.keys(id);
        return Promise.all([this.redis.hgetall(k.meta), this.redis.zrange(k.conversations, 0, -1)]);
      }),
    );
    const found = new Map<string, SandboxRecord>();
    valid.forEach((id, i) => {
      const [hash, conversations] = results[i] as [Record<string, string>, string[]];
      const record = toRecord(hash, conversations);
      if (record) found.set(id, record);
    });
    return ids.map((id) => found.get(id) ?? null);
  }

  /** Live sandboxes (not MISSING) in creation order, `limit` at a time; `cursor` is the previous page's `nextCursor`. */
  async list(limit: number, cursor?: string): Promise<{ items: SandboxRecord[]; nextCursor: string | null }> {
    const start = cursor ? `(${cursor}` : '-';
    const members = await this.redis.zrangebylex(this.indexKey, start, '+', 'LIMIT', 0, limit);
    const records = await this.getMany(members.map((m) => m.slice(14)));
    const items = records.filter((r): r is SandboxRecord => r !== null && r.status !== 'MISSING');
    const last = members[members.length - 1];
    return { items, nextCursor: members.length === limit && last ? last : null };
  }

  /** Sets the status of a sandbox that exists and is not MISSING. */
  async setStatus(id: string, status: Exclude<SandboxStatus, 'MISSING'>): Promise<SandboxChange> {
    if (!isSandboxId(id)) return 'not_found';
    const [kind] = await this.redis.batonSandboxSetStatus(this.keys(id).meta, status, this.now());
    return kind as SandboxChange;
  }

  /** Records that a conversation runs in this sandbox; refused once the sandbox is MISSING. */
  async addConversation(id: string, conversationId: string): Promise<SandboxChange> {
    if (!isSandboxId(id)) return 'not_found';
    const k = this.keys(id);
    return this.redis.batonSandboxAddConversation(k.meta, k.conversations, conversationId, this.now());
  }

  /** Forgets a conversation; returns how many the sandbox still has (0 when it does not exist). */
  async removeConversation(id: string, conversationId: string): Promise<number> {
    if (!isSandboxId(id)) return 0;
    const k = this.keys(id);
    const [, count] = replies(await this.redis.pipeline().zrem(k.conversations, conversationId).zcard(k.conversations).exec());
    return count as number;
  }

  /**
   * Deletes a sandbox but keeps a MISSING tombstone (with its conversation ids) so
   * its conversations can tell that their sandbox is gone. Out of the listing.
   */
  async markMissing(id: string): Promise<SandboxChange> {
    if (!isSandboxId(id)) return 'not_found';
    const k = this.keys(id);
    const [kind] = await this.redis.batonSandboxSetStatus(k.meta, 'MISSING', this.now());
    if (kind === 'ok') {
      const createdAt = await this.redis.hget(k.meta, 'created_at');
      await this.redis.zrem(this.indexKey, `${pad(Number(createdAt))}:${id}`);
    }
    return kind as SandboxChange;
  }

  /** Removes every trace of a sandbox (tombstone included); false when there was none. */
  async remove(id: string): Promise<boolean> {
    if (!isSandboxId(id)) return false;
    const k = this.keys(id);
    const createdAt = await this.redis.hget(k.meta, 'created_at');
    if (createdAt === null) return false;
    await this.redis.zrem(this.indexKey, `${pad(Number(createdAt))}:${id}`);
    // Two keys of one slot: DEL them one by one so it also works on a Redis Cluster client.
    const [deleted] = replies(await this.redis.pipeline().del(k.meta).del(k.conversations).exec());
    return deleted === 1;
  }

  /** Removes a sandbox (tombstone included) only when no conversation runs in it, atomically; true when removed. */
  async removeIfEmpty(id: string): Promise<boolean> {
    if (!isSandboxId(id)) return false;
    const k = this.keys(id);
    const createdAt = await this.redis.batonSandboxRemoveIfEmpty(k.meta, k.conversations);
    if (createdAt === null) return false;
    await this.redis.zrem(this.indexKey, `${pad(Number(createdAt))}:${id}`);
    return true;
  }
}

function replies(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('pipeline was not executed');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

function toRecord(hash: Record<string, string>, conversations: string[]): SandboxRecord | null {
  if (!hash || !hash.status || !hash.id) return null;
  return {
    id: hash.id,
    status: hash.status as SandboxStatus,
    sandbox_spec_id: hash.sandbox_spec_id ?? '',
    tenant: hash.tenant ?? '',
    created_at: new Date(Number(hash.created_at)).toISOString(),
    updated_at: new Date(Number(hash.updated_at)).toISOString(),
    conversation_ids: conversations,
  };
}
