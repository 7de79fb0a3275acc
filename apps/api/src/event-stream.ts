import type { Response } from 'express';
import { SessionNotFoundError } from '@baton/core';
import type { SessionStore, SessionWatcher, StreamEvent } from '@baton/store';

/** Entries read from Redis at a time; a follower that is behind reads again at once. */
const BATCH = 500;

export interface FollowOptions {
  /** A comment line goes out when nothing was written for this long (ms). */
  heartbeatMs: number;
  /** Aborted when the client goes away or the server shuts down: the stream ends. */
  signal: AbortSignal;
}

/**
 * Answers `GET /sessions/{id}/events` as Server-Sent Events: a snapshot (no
 * `lastId`) or the events after `lastId`, then each new event as it is written, until
 * the session is deleted (a `deleted` event, then the end) or `signal` aborts.
 *
 * It holds no Redis connection of its own: it subscribes to the session's stream channel
 * on the process's one subscriber connection (`SessionWatcher`) and, on each wake-up,
 * reads the entries after the last one it sent. Subscribing comes before the first
 * read, so no entry is missed; ids are the stream's, so a client resuming with
 * Last-Event-ID on any API process gets the next entry, with no gap and no repeat.
 */
export async function followEvents(
  deps: { store: SessionStore; watcher: SessionWatcher },
  sessionId: string,
  lastId: string | null,
  res: Response,
  options: FollowOptions,
): Promise<void> {
  const streams = deps.store.streams;
  const watch = await deps.watcher.watch(streams.channel(sessionId));
  try {
    const opened = await streams.open(sessionId, lastId, BATCH);
    if (!opened) throw new SessionNotFoundError(sessionId);

    res.status(200).set({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Proxies (nginx) must pass each event on as it comes.
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();

    const { signal } = options;
    const first = opened.kind === 'snapshot' ? [opened.event] : opened.events;
    let last = opened.kind === 'snapshot' ? opened.event.id : (lastId as string);
    let lastWriteAt = Date.now();
    let behind = opened.kind === 'events' && opened.events.length === BATCH;
    for (const event of first) last = write(res, event);

    while (!signal.aborted) {
      await drained(res, signal);
      if (!behind) await watch.next(Math.max(0, lastWriteAt + options.heartbeatMs - Date.now()), signal);
      if (signal.aborted) break;
      const read = await streams.read(sessionId, last, BATCH);
      // Gone, or deleted and created again under the same id: this stream is over.
      if (!read || read.createdAt !== opened.createdAt) {
        res.write(`event: deleted\ndata: ${JSON.stringify({ session_id: sessionId })}\n\n`);
        break;
      }
      for (const event of read.events) last = write(res, event);
      behind = read.events.length === BATCH;
      if (read.events.length > 0) {
        lastWriteAt = Date.now();
      } else if (Date.now() - lastWriteAt >= options.heartbeatMs) {
        res.write(': ping\n\n');
        lastWriteAt = Date.now();
      }
    }
  } finally {
    watch.close();
  }
  res.end();
}

/** Writes one event; returns its id. */
function write(res: Response, event: StreamEvent): string {
  const data = event.data.split('\n').map((line) => `data: ${line}\n`).join('');
  res.write(`id: ${event.id}\nevent: ${event.type}\n${data}\n`);
  return event.id;
}

/** Waits until a slow client has taken what was written (or is gone). */
function drained(res: Response, signal: AbortSignal): Promise<void> {
  if (!res.writableNeedDrain || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
