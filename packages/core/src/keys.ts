/**
 * Every Redis key Baton uses is built here. A session's keys share the hash tag
 * `{<session id>}`, so all of them live in one Redis Cluster slot and one Lua script
 * may touch them together. Global keys (the session index, the running index) are
 * single keys that no script combines with a session's.
 */
export interface SessionKeys {
  /** Hash: status, agent, current turn, last response/error, counters. */
  meta: string;
  /** List of ChatMessage JSON, oldest first. */
  messages: string;
  /** List of TurnRecord JSON waiting behind the running turn (`if_busy: enqueue`). */
  inbox: string;
  /** Pub/sub channel announcing the session's changes (long-poll wake-ups). */
  events: string;
  /** List of turn-end events not yet turned into webhook deliveries (the outbox). */
  outbox: string;
  /** Hash delivery id → delivery JSON: each webhook delivery and its attempts, without its body. */
  deliveries: string;
  /** Hash delivery id → the delivery's body, stored once: attempts rewrite only the record above. */
  deliveryBodies: string;
  /** Sorted set delivery id → when it was created (ms): the log's order, for trimming it. */
  deliveriesAt: string;
  /**
   * Hash turn id → `failed` | `canceled`, for turns that did not complete (timelines); with
   * the history's time index (meta `ix`), only those with messages in the history.
   */
  turns: string;
  /**
   * Sorted set: the history positions (10 digits) whose entry's time is before an earlier
   * entry's, by time. With it a timeline is read in time order by range (store/lua/history.lua).
   */
  early: string;
  /** Hash: where a timeline walk resumes, by the id a client pages with (an OpenHands `next_page_id`); expiring. */
  marks: string;
  /**
   * Stream of the session's events (status changes, reply deltas, replies), capped and
   * expiring; its name is also the pub/sub channel that announces each new entry.
   */
  stream: string;
  /**
   * Hash of a session made with SESSION_TTL_S: its idle `ttl` (ms), and what the reaper releases
   * once its other keys have expired (`created`, `tenant`, `bytes`). It never expires itself.
   */
  expiry: string;
}

export function sessionKeys(prefix: string, sessionId: string): SessionKeys {
  const base = `${prefix}:sess:{${sessionId}}`;
  return {
    meta: base,
    messages: `${base}:messages`,
    inbox: `${base}:inbox`,
    events: `${base}:events`,
    outbox: `${base}:outbox`,
    deliveries: `${base}:deliveries`,
    deliveriesAt: `${base}:deliveries:at`,
    deliveryBodies: `${base}:deliveries:bodies`,
    turns: `${base}:turns`,
    early: `${base}:early`,
    marks: `${base}:marks`,
    stream: `${base}:stream`,
    expiry: `${base}:expiry`,
  };
}

export interface GlobalKeys {
  /** Sorted set (all scores 0) of `<created ms, 13 digits>:<session id>`: the listing order. */
  sessionIndex: string;
  /** Sorted set session id → when the reaper should next check its running turn (ms). */
  running: string;
  /** String: held (`SET NX PX`) by the worker whose reaper pass runs this interval. */
  reaperLock: string;
  /** Pub/sub channel: `<session id>` of a turn to cancel (workers abort the agent). */
  cancel: string;
  /** Sorted set `<session id>/<delivery id>` → when it was dead-lettered (ms). */
  deadLetters: string;
  /** The session index of one tenant (an API key): what it lists and counts. */
  tenantSessions: (tenant: string) => string;
  /** The dead letters of one tenant's sessions. */
  tenantDeadLetters: (tenant: string) => string;
  /** Sorted set session id → when the reaper should look at a session made with SESSION_TTL_S. */
  expiring: string;
  /** String: the bytes of messages one tenant's sessions hold (TENANT_MAX_BYTES). */
  tenantBytes: (tenant: string) => string;
}

export function globalKeys(prefix: string): GlobalKeys {
  return {
    sessionIndex: `${prefix}:sessions`,
    running: `${prefix}:running`,
    reaperLock: `${prefix}:running:lock`,
    cancel: `${prefix}:cancel`,
    deadLetters: `${prefix}:webhooks:dead`,
    tenantSessions: (tenant) => `${prefix}:sessions:t:${tenant}`,
    tenantDeadLetters: (tenant) => `${prefix}:webhooks:dead:t:${tenant}`,
    expiring: `${prefix}:expiring`,
    tenantBytes: (tenant) => `${prefix}:usage:bytes:${tenant}`,
  };
}

/** BullMQ prefix: hash-tagged so each queue's keys stay in one cluster slot. */
export function queuePrefix(prefix: string): string {
  return `{${prefix}}`;
}

/**
 * A key's Redis Cluster slot (CRC16/XMODEM of the key, or of its first non-empty `{…}` hash
 * tag, modulo 16384): which master holds it, for commands with no key to route by (WAIT).
 */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  const tag = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(tag, 'utf8')) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
