import { useEffect, useRef } from 'preact/hooks';
import type { ChatMessage } from '../api.ts';
import type { Draft } from '../draft.ts';
import { pretty } from '../format.ts';


const ROLE_NAMES: Record<string, string> = { user: 'User', assistant: 'Assistant', system: 'System', tool: 'Tool result' };

/** The history as a timeline: messages, tool calls with their results, and the reply as it streams in. */
export function Timeline({ messages, draft, running, error }: { messages: ChatMessage[]; draft: Draft | null; running: boolean; error: string | null }) {
  const end = useRef<HTMLDivElement>(null);
  // The name of each tool call, to label its result.
  const toolNames = new Map<string, string>();
  for (const m of messages) for (const call of m.tool_calls ?? []) toolNames.set(call.id, call.function.name);

  useEffect(() => {
    end.current?.scrollIntoView({ block: 'nearest' });
  }, [messages.length, draft?.text]);

  return (
    <div class="timeline" data-testid="timeline">
      {messages.length === 0 && !draft && <p class="empty">No messages yet. Send one below.</p>}
      {messages.map((m, i) => (
        <Message key={i} message={m} toolName={m.tool_call_id ? toolNames.get(m.tool_call_id) : undefined} />
      ))}
      {draft && (
        <div class="msg role-assistant streaming" data-testid="draft">
          <div class="who">Assistant · writing…</div>
          <div class="text">
            <span data-testid="draft-text">{draft.text}</span>
            <span class="caret" />
          </div>
        </div>
      )}
      {running && !draft && (
        <div class="msg pending" data-testid="thinking">
          <div class="who">Assistant</div>
          <div class="text muted">Working…</div>
        </div>
      )}
      {error && (
        <div class="msg failed" role="alert">
          <div class="who">Turn failed</div>
          <div class="text">{error}</div>
        </div>
      )}
      <div ref={end} />
    </div>
  );
}

function Message({ message, toolName }: { message: ChatMessage; toolName: string | undefined }) {
  const role = message.role ?? 'user';
  if (role === 'tool') {
    return (
      <div class="msg role-tool" data-testid="message" data-role="tool">
        <div class="who">
          Result of <code>{toolName ?? message.name ?? 'tool'}</code> <span class="muted mono small">{message.tool_call_id}</span>
        </div>
        <pre class="block">{message.content === null ? '(no content)' : pretty(message.content)}</pre>
      </div>
    );
  }
  return (
    <div class={`msg role-${role}`} data-testid="message" data-role={role}>
      <div class="who">{ROLE_NAMES[role] ?? role}</div>
      {message.content !== null && message.content !== '' && <div class="text">{message.content}</div>}
      {(message.tool_calls ?? []).map((call) => (
        <div class="tool-call" key={call.id} data-testid="tool-call">
          <div>
            Calls <code>{call.function.name}</code> <span class="muted mono small">{call.id}</span>
          </div>
          <pre class="block">{pretty(call.function.arguments)}</pre>
        </div>
      ))}
      {message.user_params && Object.keys(message.user_params).length > 0 && (
        <details class="params">
          <summary>user_params</summary>
          <pre class="block">{pretty(message.user_params)}</pre>
        </details>
      )}
    </div>
  );
}
