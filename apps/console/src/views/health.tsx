import { useEffect, useState } from 'preact/hooks';
import { apiBase, type Ready } from '../api.ts';

/** Worker liveness and queue depth from `GET /ready` (public), every 5 s. */
export function Health() {
  const [ready, setReady] = useState<Ready | null>(null);
  const [unreachable, setUnreachable] = useState(false);

  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const res = await fetch(`${apiBase}/ready`, { cache: 'no-store' });
        const body = (await res.json()) as Ready;
        if (!stopped) {
          setReady(body);
          setUnreachable(false);
        }
      } catch {
        if (!stopped) setUnreachable(true);
      }
    };
    void load();
    const timer = setInterval(load, 5000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  if (unreachable) return <div class="health bad">Baton unreachable</div>;
  if (!ready) return <div class="health">…</div>;
  const live = ready.status === 'ready';
  const turns = ready.queues?.turns;
  const hooks = ready.queues?.webhooks;
  return (
    <div class="health" data-testid="health">
      <span class={live ? 'dot ok' : 'dot bad'} />
      <span title={ready.message ?? ''}>
        {live ? `Workers live (seen ${seen(ready.worker_seen_ms_ago)})` : ready.reason === 'redis_unavailable' ? 'Redis unavailable' : 'No worker'}
      </span>
      {turns && (
        <span class="queue" title="Turn jobs: waiting, running, delayed, failed">
          Turns <b>{turns.waiting}</b> waiting · <b>{turns.active}</b> running
        </span>
      )}
      {hooks && (
        <span class="queue" title="Webhook jobs: waiting, being sent, delayed (retries), failed">
          Webhooks <b>{(hooks.waiting ?? 0) + (hooks.delayed ?? 0)}</b> queued · <b>{hooks.active}</b> sending
        </span>
      )}
    </div>
  );
}

/** "just now", "4 s ago". */
function seen(ms: number | null): string {
  if (ms === null) return 'never';
  return ms < 1000 ? 'just now' : `${Math.round(ms / 1000)} s ago`;
}
