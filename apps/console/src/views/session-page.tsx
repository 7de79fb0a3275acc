import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, call, get, sessionPath, type ChatMessage, type Delivery, type Session } from '../api.ts';
import { coalesce } from '../coalesce.ts';
import { NoticeLine, useNotice } from '../notice.tsx';
import { followEvents } from '../events.ts';
import { ago, when } from '../format.ts';
import { Composer } from './composer.tsx';
import { Deliveries } from './deliveries.tsx';
import { Interrupts } from './interrupts.tsx';
import { StatusBadge } from './status-badge.tsx';
import { Timeline } from './timeline.tsx';
import { type Draft, grow } from '../draft.ts';

/**
 * One session, live: its event stream drives re-reads of the session and its history (the
 * history stays the source of truth), and `delta` events grow the reply being written.
 */
export function SessionPage({ id, onUnauthorized }: { id: string; onUnauthorized: () => void }) {
  const [session, setSession] = useState<Session | null>(null);
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [deliveries, setDeliveries] = useState<Delivery[]>([]);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [gone, setGone] = useState(false);
  const [live, setLive] = useState(false);
  const [notice, setNotice] = useNotice();
  const [confirmDelete, setConfirmDelete] = useState(false);

  const fail = (err: unknown) => {
    if (err instanceof ApiError && err.status === 401) return onUnauthorized();
    if (err instanceof ApiError && err.status === 404) return setGone(true);
    setNotice({ text: (err as Error).message, error: true });
  };

  const refresh = useMemo(
    () =>
      coalesce(async () => {
        try {
          const [s, history] = await Promise.all([get<Session>(sessionPath(id)), get<ChatMessage[]>(`${sessionPath(id)}/messages`)]);
          setSession(s);
          setMessages(history);
        } catch (err) {
          fail(err);
        }
      }),
    [id],
  );
  const refreshDeliveries = useMemo(
    () =>
      coalesce(async () => {
        try {
          setDeliveries(await get<Delivery[]>(`${sessionPath(id)}/webhooks`));
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 404)) fail(err);
        }
      }),
    [id],
  );

  useEffect(() => {
    const controller = new AbortController();
    void refreshDeliveries();
    void followEvents(
      id,
      {
        onConnection: setLive,
        onFatal: (status) => (status === 401 ? onUnauthorized() : setGone(true)),
        onEvent: ({ event, data }) => {
          if (event === 'delta') {
            setDraft((prev) => grow(prev, data.turn_id, data.content, data.offset));
          } else if (event === 'deleted') {
            setGone(true);
          } else if (event === 'message' || event === 'error' || (event === 'status' && data.status !== 'running')) {
            // The turn ended: the history now holds its reply; drop the draft once it is shown.
            const turn = data.turn_id as string | null;
            void refresh().then(() => setDraft((d) => (d && d.turnId === turn ? null : d)));
            void refreshDeliveries();
          } else {
            // status (running, a snapshot, a resync), interrupted, and kinds added later.
            void refresh();
          }
        },
      },
      controller.signal,
    );
    // Deliveries have no events of their own: read them every 2 s while the page is open.
    const timer = setInterval(() => void refreshDeliveries(), 2000);
    return () => {
      controller.abort();
      clearInterval(timer);
    };
  }, [id]);

  const act = async (what: string, method: string, path: string, body?: unknown) => {
    try {
      const res = await call<any>(method, path, { body, idempotent: method === 'POST' });
      void refresh();
      return res.body;
    } catch (err) {
      fail(err);
      if (err instanceof ApiError) setNotice({ text: `${what}: ${err.message} (${err.status} ${err.code})`, error: true });
      return undefined;
    }
  };

  const cancel = async () => {
    const res = await act('Cancel', 'POST', `${sessionPath(id)}/cancel`);
    if (res) setNotice({ text: res.cancelled_turn_id ? `Cancelling turn ${res.cancelled_turn_id.slice(0, 8)}…` : 'Nothing was running.' });
  };
  const remove = async () => {
    try {
      await call('DELETE', sessionPath(id));
      location.hash = '#/sessions';
    } catch (err) {
      fail(err);
    }
  };
  const send = async (body: Record<string, unknown>) => {
    const res = await act('Send', 'POST', `${sessionPath(id)}/messages`, body);
    if (res) setNotice({ text: res.queued ? 'Queued behind the running turn.' : res.cancelled_turn_id ? 'Sent; the running turn was interrupted.' : 'Sent.' });
    return Boolean(res);
  };
  const resume = async (interruptId: string, value: unknown) => {
    const res = await act('Resume', 'POST', `${sessionPath(id)}/resume`, { interrupt_id: interruptId, value });
    if (res) setNotice({ text: 'Answer sent; the turn goes on.' });
  };
  const redeliver = async (delivery: Delivery) => {
    try {
      await call('POST', `${sessionPath(id)}/webhooks/${encodeURIComponent(delivery.id)}/redeliver`, { idempotent: true });
      setNotice({ text: `Redelivering ${delivery.webhook_id}…` });
    } catch (err) {
      if (err instanceof ApiError) setNotice({ text: `Redeliver: ${err.message} (${err.status} ${err.code})`, error: true });
    }
    void refreshDeliveries();
  };

  if (gone) {
    return (
      <section>
        <p class="empty" data-testid="gone">
          Session <code>{id}</code> does not exist (deleted, or another key's). <a href="#/sessions">Back to sessions</a>
        </p>
      </section>
    );
  }

  const running = session?.status === 'running' || session?.status === 'interrupted';
  return (
    <section class="session">
      <div class="heading">
        <div>
          <a href="#/sessions" class="muted small">
            ← Sessions
          </a>
          <h2 class="mono" data-testid="session-id">
            {id}
          </h2>
        </div>
        <div class="actions">
          <span class={live ? 'live on' : 'live'} title={live ? 'Following the event stream' : 'Reconnecting to the event stream'}>
            {live ? 'live' : 'connecting'}
          </span>
          <button onClick={cancel} disabled={!running} data-testid="cancel">
            Cancel turn
          </button>
          {confirmDelete ? (
            <span class="confirm">
              Delete for good?
              <button class="danger" onClick={remove} data-testid="confirm-delete">
                Delete
              </button>
              <button onClick={() => setConfirmDelete(false)}>Keep</button>
            </span>
          ) : (
            <button class="danger-outline" onClick={() => setConfirmDelete(true)} data-testid="delete">
              Delete…
            </button>
          )}
        </div>
      </div>
      {session && (
        <dl class="facts">
          <div>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={session.status} />
            </dd>
          </div>
          <div>
            <dt>Agent</dt>
            <dd>{session.agent}</dd>
          </div>
          <div>
            <dt>Messages</dt>
            <dd>
              {session.total_messages}
              {session.pending_messages > 0 && <span class="muted"> (+{session.pending_messages} queued)</span>}
            </dd>
          </div>
          <div>
            <dt>Last activity</dt>
            <dd title={when(session.updated_at)}>{ago(session.updated_at)}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{when(session.created_at)}</dd>
          </div>
        </dl>
      )}
      <NoticeLine notice={notice} onClose={() => setNotice(null)} />
      <div class="columns">
        <div class="main-column">
          <Timeline messages={messages} draft={draft} running={session?.status === 'running'} error={session?.status === 'error' ? session.error : null} />
          {session?.status === 'interrupted' && <Interrupts interrupts={session.interrupts ?? []} onResume={resume} />}
          <Composer running={running} onSend={send} />
        </div>
        <aside>
          <Deliveries deliveries={deliveries} onRedeliver={redeliver} />
        </aside>
      </div>
    </section>
  );
}
