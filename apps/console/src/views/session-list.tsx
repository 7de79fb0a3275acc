import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, type SessionItem } from '../api.ts';
import { ago, shortId, when } from '../format.ts';
import { StatusBadge } from './status-badge.tsx';

const PAGE = 25;

/** `GET /sessions?order=newest`, a page at a time, refreshed every 5 s. */
export function SessionList({ onUnauthorized }: { onUnauthorized: () => void }) {
  // The cursors of the pages before this one, and this page's.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [items, setItems] = useState<SessionItem[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const cursor = cursors[cursors.length - 1] ?? null;

  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const res = await call<SessionItem[]>('GET', `/sessions?limit=${PAGE}&order=newest${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        if (stopped) return;
        setItems(res.body);
        setNext(res.headers.get('x-next-cursor'));
        setError(null);
      } catch (err) {
        if (stopped) return;
        if (err instanceof ApiError && err.status === 401) return onUnauthorized();
        setError((err as Error).message);
      }
    };
    void load();
    const timer = setInterval(load, 5000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [cursor]);

  const create = async () => {
    setCreating(true);
    try {
      const res = await call<{ session_id: string }>('POST', '/sessions', { body: {}, idempotent: true });
      location.hash = `#/sessions/${res.body.session_id}`;
    } catch (err) {
      setError((err as Error).message);
      setCreating(false);
    }
  };

  return (
    <section>
      <div class="heading">
        <h2>Sessions</h2>
        <button class="primary" onClick={create} disabled={creating} data-testid="new-session">
          New session
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {items === null ? (
        <p class="muted">Loading…</p>
      ) : items.length === 0 && cursors.length === 1 ? (
        <p class="empty">No sessions yet. Create one here, or POST /sessions.</p>
      ) : (
        <table class="list" data-testid="sessions">
          <thead>
            <tr>
              <th>Session</th>
              <th>Status</th>
              <th>Agent</th>
              <th class="num">Messages</th>
              <th>Last activity</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.session_id} data-session={s.session_id}>
                <td>
                  <a class="mono" href={`#/sessions/${s.session_id}`} title={s.session_id}>
                    {shortId(s.session_id)}
                  </a>
                </td>
                <td>
                  <StatusBadge status={s.status} />
                </td>
                <td>{s.agent ?? '–'}</td>
                <td class="num">{s.total_messages}</td>
                <td title={when(s.updated_at)}>{ago(s.updated_at)}</td>
                <td class="muted">{when(s.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="pager">
        <button disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← Newer
        </button>
        <span class="muted small">Page {cursors.length}</span>
        <button disabled={!next} onClick={() => next && setCursors([...cursors, next])} data-testid="next-page">
          Older →
        </button>
      </div>
    </section>
  );
}
