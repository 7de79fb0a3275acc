import type { RedisClient } from './connections.ts';

/**
 * Lets any number of long-poll requests wait for changes to sessions over ONE Redis
 * subscriber connection. Channels are subscribed while someone waits on them
 * (reference-counted). Waiters must re-read state after `watch()` resolves: the
 * subscription is confirmed by then, so a change after the re-read is never missed.
 */
export class SessionWatcher {
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(private readonly subscriber: RedisClient) {
    subscriber.on('message', (channel: string) => {
      const set = this.listeners.get(channel);
      if (set) for (const fn of [...set]) fn();
    });
    // Messages published while the connection was down are lost: after a reconnect
    // (ioredis resubscribes by itself) every waiter re-reads its session.
    subscriber.on('ready', () => {
      for (const set of this.listeners.values()) for (const fn of [...set]) fn();
    });
  }

  /** Number of channels currently subscribed (for tests and metrics). */
  get channels(): number {
    return this.listeners.size;
  }

  /** Subscribes to `channel`; resolves once Redis confirmed the subscription. */
  async watch(channel: string): Promise<Watch> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      this.pending.set(channel, this.subscriber.subscribe(channel));
    }
    const waiters = set;
    let wake: (() => void) | null = null;
    let changed = false;
    const listener = () => {
      changed = true;
      wake?.();
    };
    waiters.add(listener);
    try {
      await this.pending.get(channel);
    } catch (err) {
      this.release(channel, waiters, listener);
      throw err;
    }
    return {
      next: (timeoutMs: number, signal?: AbortSignal) =>
        new Promise<void>((resolve) => {
          if (changed || signal?.aborted) {
            changed = false;
            return resolve();
          }
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            wake = null;
            changed = false;
            resolve();
          };
          const timer = setTimeout(done, timeoutMs);
          signal?.addEventListener('abort', done, { once: true });
          wake = done;
        }),
      close: () => this.release(channel, waiters, listener),
    };
  }

  private release(channel: string, set: Set<() => void>, listener: () => void): void {
    set.delete(listener);
    if (set.size === 0 && this.listeners.get(channel) === set) {
      this.listeners.delete(channel);
      this.pending.delete(channel);
      this.subscriber.unsubscribe(channel).catch(() => {});
    }
  }
}

export interface Watch {
  /** Resolves on the next change (or at once if one happened since the last call), or after `timeoutMs`. */
  next(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  close(): void;
}
