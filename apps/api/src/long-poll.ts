import type { SessionView } from '@baton/core';
import { SessionNotFoundError } from '@baton/core';
import type { SessionStore, SessionWatcher } from '@baton/store';

/**
 * Waits until the session is no longer `running`, `timeoutMs` passes or `signal`
 * aborts, and returns the session as it then is. Subscribes first and re-reads after,
 * so a change between the two can't be missed; holds no Redis connection of its own.
 */
export async function waitWhileRunning(
  deps: { store: SessionStore; watcher: SessionWatcher },
  sessionId: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<SessionView> {
  const deadline = Date.now() + timeoutMs;
  // A first read answers idle sessions without subscribing, and fails fast if Redis is away.
  const first = await deps.store.get(sessionId);
  if (!first) throw new SessionNotFoundError(sessionId);
  if (first.status !== 'running' || timeoutMs <= 0) return first;
  const watch = await deps.watcher.watch(deps.store.sessionKeys(sessionId).events);
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
  }
}
