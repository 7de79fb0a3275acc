import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, call, get, sessionPath, type DeadLetter, type Delivery } from '../api.ts';
import { coalesce } from '../coalesce.ts';
import { NoticeLine, useNotice } from '../notice.tsx';
import { DeliveryCard } from './deliveries.tsx';

/** `GET /webhooks/dead-letters`: deliveries that used up the retry schedule, newest first. */
export function DeadLetters({ onUnauthorized }: { onUnauthorized: () => void }) {
  const [letters, setLetters] = useState<DeadLetter[] | null>(null);
  const [notice, setNotice] = useNotice();

  const load = useMemo(
    () =>
      coalesce(async () => {
        try {
          setLetters(await get<DeadLetter[]>('/webhooks/dead-letters?limit=100'));
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) return onUnauthorized();
          setNotice({ text: (err as Error).message, error: true });
        }
      }),
    [],
  );
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 5000);
    return () => clearInterval(timer);
  }, []);

  const redeliver = async (d: Delivery) => {
    try {
      await call('POST', `${sessionPath(d.session_id)}/webhooks/${encodeURIComponent(d.id)}/redeliver`, { idempotent: true });
      setNotice({ text: `Redelivering ${d.webhook_id}; it leaves this list.` });
    } catch (err) {
      setNotice({ text: (err as Error).message, error: true });
    }
    void load();
  };

  return (
    <section>
      <div class="heading">
        <h2>Dead letters</h2>
      </div>
      <p class="muted">Webhook deliveries that used up the retry schedule. Redeliver sends one again at once, with the same webhook-id.</p>
      <NoticeLine notice={notice} onClose={() => setNotice(null)} />
      {letters === null ? (
        <p class="muted">Loading…</p>
      ) : letters.length === 0 ? (
        <p class="empty">No dead letters.</p>
      ) : (
        <div class="grid" data-testid="dead-letters">
          {letters.map((d) => (
            <DeliveryCard key={d.id} delivery={d} onRedeliver={redeliver} showSession />
          ))}
        </div>
      )}
    </section>
  );
}
