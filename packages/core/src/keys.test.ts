import { describe, expect, it } from 'vitest';
import { globalKeys, keySlot as exportedKeySlot, queuePrefix, sessionKeys } from './keys.ts';

/**
 * Redis Cluster key slot, per the cluster spec: CRC16 (XMODEM: poly 0x1021, init 0)
 * of the key, or of the part inside the first `{...}` when that part is non-empty,
 * modulo 16384. (A plain redis-server refuses CLUSTER KEYSLOT, so it is computed here.)
 */
function crc16(data: Buffer): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

function keySlot(key: string): number {
  return crc16(Buffer.from(hashTag(key), 'utf8')) % 16384;
}

describe('keySlot (test helper) follows the Redis Cluster spec', () => {
  it('matches the spec’s CRC16 check value and known CLUSTER KEYSLOT answers', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('somekey')).toBe(11058);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('foo{}{bar}')).toBe(crc16(Buffer.from('foo{}{bar}')) % 16384);
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
    expect(keySlot('foo{bar}{zap}')).toBe(keySlot('bar'));
    // The exported one (WAIT routing) agrees with this reference.
    for (const key of ['foo', 'somekey', '{user1000}.following', 'foo{}{bar}', 'foo{{bar}}zap', 'foo{bar}{zap}', 'baton:sess:{4f1c}:meta', 'é{ü}']) {
      expect(exportedKeySlot(key), key).toBe(keySlot(key));
    }
  });
});

describe('sessionKeys', () => {
  const id = '3f1c2a4e-8b7d-4c6a-9e0f-1a2b3c4d5e6f';

  it('puts the session id in a hash tag in every key', () => {
    const keys = sessionKeys('baton', id);
    const values = Object.values(keys);
    expect(Object.keys(keys).sort()).toEqual(['deliveries', 'deliveriesAt', 'deliveryBodies', 'early', 'events', 'expiry', 'inbox', 'marks', 'messages', 'meta', 'outbox', 'stream', 'turns']);
    for (const key of values) {
      expect(key.startsWith('baton:')).toBe(true);
      expect(hashTag(key)).toBe(id);
    }
    expect(new Set(values).size).toBe(values.length);
  });

  it('maps all of one session’s keys to the same cluster slot, for many ids and prefixes', () => {
    const slotsSeen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const sessionId = `${i.toString(16).padStart(8, '0')}-0000-4000-8000-${String(i).padStart(12, '0')}`;
      const prefix = i % 2 ? 'baton' : `t-${i}.x_y`;
      const slots = new Set(Object.values(sessionKeys(prefix, sessionId)).map(keySlot));
      expect(slots.size).toBe(1);
      // The slot is the session id's, whatever the prefix.
      expect([...slots][0]).toBe(keySlot(sessionId));
      slotsSeen.add(keySlot(sessionId));
    }
    // Different sessions spread over slots (they are not all forced into one).
    expect(slotsSeen.size).toBeGreaterThan(100);
  });

  it('keeps sessions of different prefixes apart', () => {
    expect(sessionKeys('a', id).meta).not.toBe(sessionKeys('b', id).meta);
  });
});

describe('globalKeys', () => {
  it('builds the global keys under the prefix, outside any session’s hash tag', () => {
    const keys = globalKeys('baton');
    const { tenantSessions, tenantDeadLetters, tenantBytes, ...fixed } = keys;
    expect(fixed).toEqual({
      sessionIndex: 'baton:sessions',
      running: 'baton:running',
      cancel: 'baton:cancel',
      deadLetters: 'baton:webhooks:dead',
      reaperLock: 'baton:running:lock',
      expiring: 'baton:expiring',
    });
    const perTenant = [tenantSessions('t_1'), tenantDeadLetters('t_1'), tenantBytes('t_1')];
    expect(perTenant).toEqual(['baton:sessions:t:t_1', 'baton:webhooks:dead:t:t_1', 'baton:usage:bytes:t_1']);
    for (const key of [...Object.values(fixed), ...perTenant]) expect(key).not.toContain('{');
  });
});

describe('queuePrefix', () => {
  it('hash-tags the prefix so all of a queue’s keys share one slot', () => {
    expect(queuePrefix('baton')).toBe('{baton}');
    const prefix = queuePrefix('t-42');
    // BullMQ builds keys as `<prefix>:<queue>:<suffix>`.
    const keys = ['wait', 'active', 'meta', 'events', 'id', 'delayed', 'completed', 'failed', 'some-job-id', 'some-job-id:lock'].map(
      (suffix) => `${prefix}:turns:${suffix}`,
    );
    const slots = new Set(keys.map(keySlot));
    expect(slots).toEqual(new Set([keySlot('t-42')]));
  });
});
