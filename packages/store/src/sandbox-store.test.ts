import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import type { Redis } from 'ioredis';
import { SandboxStore, isSandboxId, newSandboxId } from './sandbox-store.ts';

const T0 = 1_700_000_000_000;

let redis: Redis;
let prefix: string;
let clock: number;
let store: SandboxStore;

useTestRedis((client) => (redis = client));
beforeEach(() => {
  prefix = `t-${randomUUID()}`;
  clock = T0;
  store = new SandboxStore(redis, { prefix, now: () => clock });
});

async function newSandbox(conversationIds: string[] = []) {
  const record = await store.create({ sandboxSpecId: 'baton-default', tenant: 't1', conversationIds });
  if (!record) throw new Error('not created');
  clock += 1;
  return record;
}

describe('SandboxStore', () => {
  it('creates a RUNNING sandbox with its conversations and reads it back', async () => {
    const c1 = randomUUID();
    const record = await newSandbox([c1]);
    expect(isSandboxId(record.id)).toBe(true);
    expect(record).toEqual({
      id: record.id,
      status: 'RUNNING',
      sandbox_spec_id: 'baton-default',
      tenant: 't1',
      created_at: new Date(T0).toISOString(),
      updated_at: new Date(T0).toISOString(),
      conversation_ids: [c1],
    });
    expect(await store.get(record.id)).toEqual(record);
  });

  it('refuses a second sandbox with the same id and leaves one index entry', async () => {
    const id = newSandboxId();
    expect(await store.create({ id, sandboxSpecId: 's' })).not.toBeNull();
    clock += 5;
    expect(await store.create({ id, sandboxSpecId: 's' })).toBeNull();
    expect(await redis.zrange(store.indexKey, 0, -1)).toEqual([`${T0}:${id}`]);
  });

  it('keeps every key of one sandbox in one cluster slot (hash tag) under the prefix', async () => {
    const record = await newSandbox([randomUUID()]);
    const keys = await redis.keys(`${prefix}:sandbox:*`);
    expect(keys.sort()).toEqual([`${prefix}:sandbox:{${record.id}}`, `${prefix}:sandbox:{${record.id}}:conversations`]);
  });

  it('answers null for unknown or malformed ids without a key being touched', async () => {
    expect(await store.get(newSandboxId())).toBeNull();
    expect(await store.get('bad}id')).toBeNull();
    expect(await store.setStatus('a{b', 'PAUSED')).toBe('not_found');
    const known = await newSandbox();
    expect((await store.getMany(['nope', known.id, 'x{'])).map((r) => r?.id ?? null)).toEqual([null, known.id, null]);
  });

  it('lists live sandboxes oldest first, limit at a time, with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await newSandbox()).id);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await store.list(2, cursor);
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((r) => r.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(ids);
  });

  it('setStatus changes a live sandbox and reports unknown and MISSING ones', async () => {
    const { id } = await newSandbox();
    clock += 100;
    expect(await store.setStatus(id, 'PAUSED')).toBe('ok');
    expect(await store.get(id)).toMatchObject({ status: 'PAUSED', updated_at: new Date(clock).toISOString() });
    expect(await store.setStatus(newSandboxId(), 'RUNNING')).toBe('not_found');
    expect(await store.markMissing(id)).toBe('ok');
    expect(await store.setStatus(id, 'RUNNING')).toBe('missing');
    expect((await store.get(id))?.status).toBe('MISSING');
  });

  it('adds conversations in order, once each, and removes them', async () => {
    const { id } = await newSandbox();
    const [a, b] = [randomUUID(), randomUUID()];
    expect(await store.addConversation(id, b)).toBe('ok');
    expect(await store.addConversation(id, a)).toBe('ok');
    expect(await store.addConversation(id, b)).toBe('ok');
    expect((await store.get(id))?.conversation_ids).toEqual([b, a]);
    expect(await store.removeConversation(id, b)).toBe(1);
    expect(await store.removeConversation(id, a)).toBe(0);
    expect(await store.addConversation(newSandboxId(), a)).toBe('not_found');
  });

  it('markMissing keeps a tombstone with its conversations, out of the listing, and refuses new conversations', async () => {
    const c = randomUUID();
    const gone = await newSandbox([c]);
    const kept = await newSandbox();
    expect(await store.markMissing(gone.id)).toBe('ok');
    expect(await store.markMissing(gone.id)).toBe('missing');
    expect(await store.get(gone.id)).toMatchObject({ status: 'MISSING', conversation_ids: [c] });
    expect((await store.list(10)).items.map((r) => r.id)).toEqual([kept.id]);
    expect(await store.addConversation(gone.id, randomUUID())).toBe('missing');
  });

  it('remove deletes every key and the index entry', async () => {
    const { id } = await newSandbox([randomUUID()]);
    expect(await store.remove(id)).toBe(true);
    expect(await store.remove(id)).toBe(false);
    expect(await store.get(id)).toBeNull();
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);
  });

  it('removeIfEmpty removes a sandbox only once its last conversation is gone', async () => {
    const c = randomUUID();
    const { id } = await newSandbox([c]);
    expect(await store.removeIfEmpty(id)).toBe(false);
    expect(await store.get(id)).not.toBeNull();
    expect(await store.removeConversation(id, c)).toBe(0);
    expect(await store.removeIfEmpty(id)).toBe(true);
    expect(await store.removeIfEmpty(id)).toBe(false);
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);
  });
});
