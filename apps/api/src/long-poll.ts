import type { SessionView } from '@baton/core';
import { SessionNotFoundError, TooManyWaitersError } from '@baton/core';

/** How many long-polls one API process holds at once (`MAX_WAITERS`); one more gets a 503. */
export class WaiterSlots {
  private held = 0;

  constructor(readonly max: number) {}

  get size(): number {
    return this.held;
  }

  /** Takes a slot, or throws TooManyWaitersError; call the returned function once to give it back. */
  take(): () => void {
    if (this.held >= this.max) throw new TooManyWaitersError(this.max);
    this.held++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held--;
    };
  }
}
import type { SessionStore, SessionWatcher } from '@baton/store';

/**
 * Waits until the session is no longer `running`, `timeoutMs` passes or `signal`
 * aborts, and returns the session as it then is. Subscribes first and re-reads after,
 * so a change between the two can't be missed; holds no Redis connection of its own.
 */
export async function waitWhileRunning(
  deps: { store: SessionStore; watcher: SessionWatcher; waiters?: WaiterSlots },
  sessionId: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<SessionView> {
  const deadline = Date.now() + timeoutMs;
  // A first read answers idle sessions without subscribing, and fails fast if Redis is away.
  const first = await deps.store.get(sessionId);
  if (!first) throw new SessionNotFoundError(sessionId);
  if (first.status !== 'running' || timeoutMs <= 0) return first;
  const release = deps.waiters?.take();
  let watch: Awaited<ReturnType<SessionWatcher['watch']>>;
  try {
    watch = await deps.watcher.watch(deps.store.sessionKeys(sessionId).events);
  } catch (err) {
    release?.();
    throw err;
  }
  try {
    for (;;) {
      const view = await deps.store.get(sessionId);
      if (!view) throw new SessionNotFoundError(sessionId);
      const remaining = deadline - Date.now();
      if (view.status !== 'running' || remaining <= 0 || signal.aborted) return view;
      await watch.next(remaining, signal);
    }
  } finally {
    watch.close();
    release?.();
  }
}
