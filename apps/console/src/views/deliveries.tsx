import type { DeadLetter, Delivery } from '../api.ts';
import { shortId, when } from '../format.ts';

/** Which webhook a delivery is for. */
const TARGETS: Record<string, string> = { message: "the message's webhook", session: "the session's webhook", server: 'WEBHOOK_ENDPOINTS' };

/** A session's webhook delivery log: each delivery with every attempt, and Redeliver. */
export function Deliveries({ deliveries, onRedeliver }: { deliveries: Delivery[]; onRedeliver: (d: Delivery) => void }) {
  return (
    <div class="deliveries" data-testid="deliveries">
      <h3>Webhook deliveries</h3>
      {deliveries.length === 0 && <p class="muted small">None yet. A turn's end is sent to the webhooks given with the message, the session, or WEBHOOK_ENDPOINTS.</p>}
      {deliveries.map((d) => (
        <DeliveryCard key={d.id} delivery={d} onRedeliver={onRedeliver} />
      ))}
    </div>
  );
}

export function DeliveryCard({ delivery: d, onRedeliver, showSession }: { delivery: Delivery & Partial<Pick<DeadLetter, 'dead_at'>>; onRedeliver: (d: Delivery) => void; showSession?: boolean }) {
  return (
    <div class="delivery" data-testid="delivery" data-webhook-id={d.webhook_id}>
      <div class="row spread">
        <span>
          <span class={`badge delivery-${d.status}`} data-testid="delivery-status">
            {d.status}
          </span>{' '}
          <code>{d.type}</code>
        </span>
        <button onClick={() => onRedeliver(d)} disabled={d.status === 'pending'} data-testid="redeliver" title="Send again with the same webhook-id">
          Redeliver
        </button>
      </div>
      <div class="url mono small" title={d.url}>
        {d.url}
      </div>
      <div class="muted small">
        <span title="webhook-id: the same on every attempt and redelivery">{d.webhook_id}</span> · {TARGETS[d.target] ?? d.target}
        {d.redeliveries > 0 && ` · redelivered ${d.redeliveries}×`}
        {showSession && (
          <>
            {' · session '}
            <a href={`#/sessions/${d.session_id}`} class="mono">
              {shortId(d.session_id)}
            </a>
          </>
        )}
      </div>
      {d.dead_at && <div class="small">Dead since {when(d.dead_at)}</div>}
      {d.status === 'pending' && d.next_attempt_at && <div class="small muted">Next attempt {when(d.next_attempt_at)}</div>}
      <table class="attempts" data-testid="attempts">
        <thead>
          <tr>
            <th>#</th>
            <th>At</th>
            <th>Answer</th>
            <th class="num">ms</th>
          </tr>
        </thead>
        <tbody>
          {d.attempts.map((a, i) => (
            <tr key={i} class={a.status_code !== null && a.status_code >= 200 && a.status_code < 300 ? 'ok' : 'bad'}>
              <td>{i + 1}</td>
              <td>{when(a.at)}</td>
              <td>{a.status_code ?? a.error ?? '–'}{a.status_code !== null && a.error ? ` ${a.error}` : ''}</td>
              <td class="num">{a.latency_ms}</td>
            </tr>
          ))}
          {d.attempts.length === 0 && (
            <tr>
              <td colSpan={4} class="muted">
                No attempt yet
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
