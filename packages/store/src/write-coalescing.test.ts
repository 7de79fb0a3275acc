import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterEach, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { coalesceWrites } from './write-coalescing.ts';

const open: Redis[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.quit()));
});

async function connect(): Promise<Redis> {
  const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
  open.push(redis);
  await redis.ping();
  return redis;
}

/** Counts the writes that reach the socket (one per system call: `_write` or `_writev`). */
function countWrites(redis: Redis): { count: number } {
  const socket = redis.stream as Socket & { _write: Function; _writev: Function };
  const counter = { count: 0 };
  for (const method of ['_write', '_writev'] as const) {
    const original = socket[method].bind(socket);
    socket[method] = (...args: unknown[]) => {
      counter.count++;
      return original(...args);
    };
  }
  return counter;
}

async function threeCommands(redis: Redis): Promise<unknown[]> {
  const key = `coalesce-${randomUUID()}`;
  return Promise.all([redis.set(key, 'a'), redis.append(key, 'b'), redis.get(key)]);
}

it('sends the commands of one event-loop turn in one socket write, replies in order', async () => {
  const redis = await connect();
  coalesceWrites(redis);
  const writes = countWrites(redis);
  expect(await threeCommands(redis)).toEqual(['OK', 2, 'ab']);
  expect(writes.count).toBe(1);
  // The next turn's commands go out in a write of their own, as soon as that turn ends.
  expect(await threeCommands(redis)).toEqual(['OK', 2, 'ab']);
  expect(writes.count).toBe(2);
});

it('is what makes the difference: a plain connection writes each command on its own', async () => {
  const redis = await connect();
  const writes = countWrites(redis);
  expect(await threeCommands(redis)).toEqual(['OK', 2, 'ab']);
  expect(writes.count).toBe(3);
});

it('keeps working across a reconnect (the new socket is corked in its turn)', async () => {
  const redis = await connect();
  coalesceWrites(redis);
  redis.disconnect(true);
  await new Promise((resolve) => redis.once('ready', resolve));
  const writes = countWrites(redis);
  expect(await threeCommands(redis)).toEqual(['OK', 2, 'ab']);
  expect(writes.count).toBe(1);
});
