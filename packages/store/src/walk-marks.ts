import { sessionKeys } from '@baton/core';
import type { RedisClient } from './connections.ts';

/** How long a mark is kept after the session's last one was written (ms). */
export const WALK_MARK_TTL_MS = 3_600_000;
/** The most marks a session keeps: past it they are dropped together (a walk that loses its mark reads the timeline whole once). */
export const WALK_MARKS_MAX = 1_000;

/**
 * Where a client's walk of a session's timeline resumes, under the id the client pages with
 * (an OpenHands `next_page_id` is an event id, which says nothing of where the event is):
 * written when a page is answered, read when the next page is asked for. A mark is only a
 * hint, checked against the entry it names; a missing or stale one costs a whole read.
 */
export class WalkMarks {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  get(sessionId: string, id: string): Promise<string | null> {
    return this.redis.hget(sessionKeys(this.prefix, sessionId).marks, id);
  }

  /** Best effort: a mark that cannot be written (a full Redis) only makes the next page slower. */
  async set(sessionId: string, id: string, value: string): Promise<void> {
    const key = sessionKeys(this.prefix, sessionId).marks;
    try {
      const replies = (await this.redis.multi().hset(key, id, value).pexpire(key, WALK_MARK_TTL_MS).hlen(key).exec()) ?? [];
      if (Number(replies[2]?.[1]) > WALK_MARKS_MAX) await this.redis.del(key);
    } catch {
      // The page is answered all the same.
    }
  }
}
