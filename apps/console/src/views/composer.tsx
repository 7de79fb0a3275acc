import { useState } from 'preact/hooks';

type IfBusy = 'reject' | 'enqueue' | 'interrupt';

const POLICIES: { value: IfBusy; label: string }[] = [
  { value: 'reject', label: 'Refuse while busy (409)' },
  { value: 'enqueue', label: 'Queue behind the running turn' },
  { value: 'interrupt', label: 'Interrupt the running turn' },
];

/** Sends a user message with a busy policy (`if_busy`) and, optionally, `user_params`. */
export function Composer({ running, onSend }: { running: boolean; onSend: (body: Record<string, unknown>) => Promise<boolean> }) {
  const [text, setText] = useState('');
  const [ifBusy, setIfBusy] = useState<IfBusy>('reject');
  const [params, setParams] = useState('');
  const [paramsError, setParamsError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    const body: Record<string, unknown> = { content: text, if_busy: ifBusy };
    if (params.trim()) {
      try {
        body.user_params = JSON.parse(params);
      } catch {
        return setParamsError('user_params must be a JSON object.');
      }
    }
    setParamsError(null);
    setBusy(true);
    if (await onSend(body)) setText('');
    setBusy(false);
  };

  return (
    <form class="composer" onSubmit={submit} data-testid="composer">
      <textarea
        rows={3}
        placeholder="Message the agent (Ctrl+Enter sends)"
        value={text}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void submit(e);
        }}
        data-testid="message-text"
      />
      <details>
        <summary>user_params (JSON, passed to the agent)</summary>
        <textarea rows={3} class="mono" placeholder='{"echo": {"interrupt": {"type": "tool_approval", "payload": {"tool": "deploy"}}}}' value={params} onInput={(e) => setParams((e.target as HTMLTextAreaElement).value)} data-testid="user-params" />
        {paramsError && <p class="error">{paramsError}</p>}
      </details>
      <div class="row">
        <label class="small">
          If busy{' '}
          <select value={ifBusy} onChange={(e) => setIfBusy((e.target as HTMLSelectElement).value as IfBusy)} data-testid="if-busy">
            {POLICIES.map((p) => (
              <option value={p.value} key={p.value}>
                {p.label}
              </option>
            ))}
          </select>
        </label>
        {running && <span class="muted small">A turn is running.</span>}
        <button type="submit" class="primary" disabled={busy || !text.trim()} data-testid="send">
          Send
        </button>
      </div>
    </form>
  );
}
