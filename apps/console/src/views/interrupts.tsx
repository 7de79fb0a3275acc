import { useState } from 'preact/hooks';
import type { Interrupt } from '../api.ts';
import { pretty } from '../format.ts';

type Resume = (interruptId: string, value: unknown) => Promise<void>;

/** What the paused turn waits for: a tool approval (Approve / Deny) or an answer (user input). */
export function Interrupts({ interrupts, onResume }: { interrupts: Interrupt[]; onResume: Resume }) {
  if (interrupts.length === 0) return <p class="notice">The turn is interrupted, waiting for an answer.</p>;
  return (
    <div class="interrupts">
      {interrupts.map((i) => (i.type === 'tool_approval' ? <Approval key={i.interrupt_id} interrupt={i} onResume={onResume} /> : <Question key={i.interrupt_id} interrupt={i} onResume={onResume} />))}
    </div>
  );
}

function Approval({ interrupt, onResume }: { interrupt: Interrupt; onResume: Resume }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const answer = async (value: unknown) => {
    setBusy(true);
    await onResume(interrupt.interrupt_id, value);
    setBusy(false);
  };
  return (
    <div class="interrupt" data-testid="interrupt" data-type="tool_approval">
      <div class="who">Approval needed</div>
      <p>The agent asks to run a tool:</p>
      <pre class="block">{pretty(interrupt.payload)}</pre>
      <div class="row">
        <button class="primary" disabled={busy} onClick={() => answer({ approved: true })} data-testid="approve">
          Approve
        </button>
        <input placeholder="Reason (optional, sent with Deny)" value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} data-testid="deny-reason" />
        <button class="danger-outline" disabled={busy} onClick={() => answer(reason.trim() ? { approved: false, reason: reason.trim() } : { approved: false })} data-testid="deny">
          Deny
        </button>
      </div>
    </div>
  );
}

function Question({ interrupt, onResume }: { interrupt: Interrupt; onResume: Resume }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    await onResume(interrupt.interrupt_id, parseAnswer(text));
    setBusy(false);
  };
  return (
    <form class="interrupt" data-testid="interrupt" data-type={interrupt.type} onSubmit={submit}>
      <div class="who">The agent asks</div>
      <pre class="block">{pretty(interrupt.payload)}</pre>
      <textarea rows={2} placeholder="Your answer: text, or a JSON object or array" value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} data-testid="answer-text" />
      <div class="row">
        <button type="submit" class="primary" disabled={busy} data-testid="answer">
          Answer
        </button>
      </div>
    </form>
  );
}

/** A JSON object or array is sent as JSON; anything else as the text typed. */
export function parseAnswer(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed);
    } catch {
      // not JSON: plain text
    }
  }
  return text;
}
