import { z } from 'zod';

/** The query strings of the native API (documented in the OpenAPI document from these). */

/** `GET /sessions/{id}`: `?wait=true&timeout=<seconds>` long-polls while the session runs. */
export const WaitQuery = z.object({
  wait: z.enum(['true', 'false', '1', '0']).optional().describe('Long-poll: answer when the session is no longer `running`'),
  timeout: z.coerce.number().min(0, 'must be >= 0').optional().describe('Seconds to wait at most (capped at LONG_POLL_MAX_S)'),
});

/**
 * `GET /sessions` without `limit` or `cursor` lists every session (as Motus does: its
 * clients read no cursor), up to this many; beyond it the answer carries the next cursor.
 */
export const LIST_ALL_MAX = 10_000;

/** `GET /sessions`: one page, oldest first; `max` is PAGE_LIMIT_MAX. */
export const ListQuery = (max: number) =>
  z.object({
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(max, `must be at most ${max}`)
      .optional()
      .describe(`Page size (default ${Math.min(50, max)} with a cursor; without limit and cursor: every session, up to ${LIST_ALL_MAX})`),
    cursor: z.string().max(200).optional().describe('The `X-Next-Cursor` of the previous page'),
    order: z.enum(['oldest', 'newest']).default('oldest').describe('`oldest` first (creation order, the default) or `newest` first'),
  });

/**
 * `GET /sessions/{id}/messages`: without `limit` the whole history (read in bounded chunks);
 * with it one page, oldest first; `max` is PAGE_LIMIT_MAX.
 */
export const MessagesQuery = (max: number) =>
  z.object({
    limit: z.coerce.number().int().min(1).max(max, `must be at most ${max}`).optional().describe('Messages per page; without it, the whole history'),
    cursor: z.string().max(200).optional().describe('The `X-Next-Cursor` of the previous page'),
  });

/** `GET /webhooks/dead-letters`. */
export const DeadLetterQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) });

/** `GET /sessions/{id}/events`: resume after an event (the `Last-Event-ID` header wins when both are sent). */
export const EventsQuery = z.object({
  last_event_id: z
    .string()
    .regex(/^\d{1,20}(-\d{1,20})?$/, 'must be an event id from this stream, like 1700000000000-0')
    .optional()
    .describe('Resume after this event id, as the `Last-Event-ID` header does'),
});
