import type { Response } from 'express';
import { SessionNotFoundError } from '@baton/core';
import type { SessionStore, SessionWatcher, StreamEvent } from '@baton/store';

/** Entries read from Redis at a time (fewer when `bufferBytes` is reached); a follower that is behind reads again at once. */
const BATCH = 500;

export interface FollowOptions {
  /** A comment line goes out when nothing was written for this long (ms). */
  heartbeatMs: number;
  /** Aborted when the client goes away or the server shuts down: the stream ends. */
  signal: AbortSignal;
  /**
   * The most event data one stream reads from Redis at a time (`SSE_BUFFER_BYTES`): what it
   * holds for its client besides the socket's own buffer, which it never fills past its
   * high-water mark (it waits for 'drain'). One event larger than this still goes alone.
   */
  bufferBytes: number;
  /** A client whose socket stays full and takes nothing of it for this long is closed (ms; `SSE_WRITE_TIMEOUT_S`). */
  writeTimeoutMs: number;
  /** Told when a client that stopped reading is closed: the bytes written and not taken, and those read and not yet written. */
  onStalled?: (info: { buffered: number; held: number }) => void;
}

/** How a follower ended: `stalled` when its client stopped reading and was closed. */
export type FollowEnd = 'ended' | 'stalled';

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
 *
 * Backpressure: when the socket's buffer is full (`write` returns false) the stream waits
 * for 'drain' before writing or reading more, so what one stream holds stays under about
 * `bufferBytes` plus the socket's high-water mark. A client that takes nothing for
 * `writeTimeoutMs` is closed; it can resume with Last-Event-ID.
 */
export async function followEvents(
  deps: { store: SessionStore; watcher: SessionWatcher },
  sessionId: string,
  lastId: string | null,
  res: Response,
  options: FollowOptions,
): Promise<FollowEnd> {
  const streams = deps.store.streams;
  const watch = await deps.watcher.watch(streams.channel(sessionId));
  try {
    const opened = await streams.open(sessionId, lastId, BATCH, options.bufferBytes);
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
    let last = opened.kind === 'snapshot' ? opened.event.id : (lastId as string);
    let lastWriteAt = Date.now();
    let behind = opened.kind === 'events' && (opened.more || opened.events.length === BATCH);
    /** Writes `text`, then waits while the socket is full; false when the client stopped reading and was closed. */
    const put = async (text: string, held = 0): Promise<boolean> => {
      if (res.write(text) || (await drained(res, signal, options.writeTimeoutMs))) return true;
      options.onStalled?.({ buffered: res.writableLength, held });
      res.destroy();
      return false;
    };
    const send = async (events: StreamEvent[]): Promise<boolean> => {
      for (let i = 0; i < events.length && !signal.aborted; i++) {
        last = events[i]!.id;
        if (!(await put(format(events[i]!), dataBytes(events.slice(i + 1))))) return false;
      }
      return true;
    };
    if (!(await send(opened.kind === 'snapshot' ? [opened.event] : opened.events))) return 'stalled';

    while (!signal.aborted) {
      if (!behind) await watch.next(Math.max(0, lastWriteAt + options.heartbeatMs - Date.now()), signal);
      if (signal.aborted) break;
      const read = await streams.read(sessionId, last, BATCH, options.bufferBytes);
      // Gone, or deleted and created again under the same id: this stream is over.
      if (!read || read.createdAt !== opened.createdAt) {
        res.write(`event: deleted\ndata: ${JSON.stringify({ session_id: sessionId })}\n\n`);
        break;
      }
      if (!(await send(read.events))) return 'stalled';
      behind = read.more || read.events.length === BATCH;
      if (read.events.length > 0) {
        lastWriteAt = Date.now();
      } else if (Date.now() - lastWriteAt >= options.heartbeatMs) {
        if (!(await put(': ping\n\n'))) return 'stalled';
        lastWriteAt = Date.now();
      }
    }
  } finally {
    watch.close();
  }
  res.end();
  return 'ended';
}

/** Event data read and not yet written, counted as the store's byte limit counts it. */
function dataBytes(events: StreamEvent[]): number {
  return events.reduce((sum, e) => sum + Buffer.byteLength(e.type) + Buffer.byteLength(e.data), 0);
}

/** One event as SSE text. */
function format(event: StreamEvent): string {
  const data = event.data.split('\n').map((line) => `data: ${line}\n`).join('');
  return `id: ${event.id}\nevent: ${event.type}\n${data}\n`;
}

/**
 * Waits until the client has taken what was written ('drain') or the stream is aborted
 * (true for both); false when `timeoutMs` passes and the client took nothing meanwhile (it
 * stopped reading). A slow client that takes some of it keeps its stream.
 */
function drained(res: Response, signal: AbortSignal, timeoutMs: number): Promise<boolean> {
  if (!res.writableNeedDrain || signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    let pending = res.writableLength;
    const done = (ok: boolean) => {
      clearInterval(timer);
      res.off('drain', onDrain);
      signal.removeEventListener('abort', onDrain);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const timer = setInterval(() => {
      if (res.writableLength >= pending) return done(false);
      pending = res.writableLength;
    }, timeoutMs);
    res.once('drain', onDrain);
    signal.addEventListener('abort', onDrain, { once: true });
  });
}
