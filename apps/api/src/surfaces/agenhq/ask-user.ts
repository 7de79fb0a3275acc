import { InterruptNotFoundError, type SessionView, SessionNotInterruptedError } from '@baton/core';
import type { TenantSessions } from '@baton/store';
import { type AgenhqEvent, nameUuid, toEvent } from './shapes.ts';

/**
 * agenhq's ask-user exchange over Baton's `user_input` interrupts:
 * - while a session's turn waits with a `user_input` interrupt, its timeline ends with an
 *   `agent_ask_user` event whose payload carries the interrupt's payload (the question);
 * - the next user message answers it: the turn is resumed with the text as the value
 *   (instead of the message being queued), and the answer is kept as a session attribute
 *   (`agenhq_ask:<interrupt id>`, one per question, so no two answers overwrite each other)
 *   from which the timeline shows the question and its `user_ask_user_response` for good.
 */

const ATTR_PREFIX = 'agenhq_ask:';

interface AskRecord {
  question: unknown;
  asked_at: string;
  answer: string;
  answered_at: string;
  client_id: string | null;
}

/** The text of a question: `payload.question` when it is a string, else the payload itself. */
function questionText(payload: unknown): string {
  if (typeof payload === 'string') return payload;
  const question = (payload as { question?: unknown } | null)?.question;
  if (typeof question === 'string') return question;
  return payload === undefined || payload === null ? '' : JSON.stringify(payload);
}

function askEvent(sessionId: string, interruptId: string, question: unknown, at: string): AgenhqEvent {
  const event = toEvent(sessionId, {
    id: nameUuid(`${sessionId}:ask:${interruptId}`),
    type: 'agent_ask_user',
    message: questionText(question),
    status: 'completed',
    clientId: null,
    createdAt: at,
    updatedAt: at,
  });
  event.payload = { ...event.payload, question: question ?? null, interrupt_id: interruptId };
  return event;
}

function answerEvent(sessionId: string, interruptId: string, record: Pick<AskRecord, 'answer' | 'answered_at' | 'client_id'>): AgenhqEvent {
  return toEvent(sessionId, {
    id: nameUuid(`${sessionId}:answer:${interruptId}`),
    type: 'user_ask_user_response',
    message: record.answer,
    status: 'completed',
    clientId: record.client_id,
    createdAt: record.answered_at,
    updatedAt: record.answered_at,
  });
}

/** The session's questions (answered ones, then the one waiting, if any) as timeline events. */
export function askEvents(view: SessionView): AgenhqEvent[] {
  const events: AgenhqEvent[] = [];
  for (const [key, raw] of Object.entries(view.attributes)) {
    if (!key.startsWith(ATTR_PREFIX)) continue;
    const interruptId = key.slice(ATTR_PREFIX.length);
    let record: AskRecord;
    try {
      record = JSON.parse(raw) as AskRecord;
    } catch {
      continue;
    }
    events.push(askEvent(view.session_id, interruptId, record.question, record.asked_at), answerEvent(view.session_id, interruptId, record));
  }
  const waiting = pendingQuestion(view);
  if (waiting) events.push(askEvent(view.session_id, waiting.interrupt_id, waiting.payload, view.updated_at));
  return events;
}

function pendingQuestion(view: SessionView) {
  const interrupt = view.status === 'interrupted' ? view.interrupts[0] : undefined;
  return interrupt?.type === 'user_input' ? interrupt : undefined;
}

/**
 * Answers the question the session waits on with `message`: the `user_ask_user_response`
 * event, or null when no question waits (the message is then sent as usual). A question
 * answered meanwhile by another request is no question either.
 */
export async function answerQuestion(sessions: TenantSessions, view: SessionView, message: string, clientId: string | null): Promise<AgenhqEvent | null> {
  const waiting = pendingQuestion(view);
  if (!waiting) return null;
  try {
    await sessions.resumeInterrupt(view.session_id, waiting.interrupt_id, message);
  } catch (err) {
    if (err instanceof SessionNotInterruptedError || err instanceof InterruptNotFoundError) return null;
    throw err;
  }
  const record: AskRecord = { question: waiting.payload ?? null, asked_at: view.updated_at, answer: message, answered_at: new Date().toISOString(), client_id: clientId };
  // After the resume: a lost write here loses the timeline's copy, never the turn's answer.
  await sessions.setAttributes(view.session_id, { [`${ATTR_PREFIX}${waiting.interrupt_id}`]: JSON.stringify(record) }).catch(() => undefined);
  return answerEvent(view.session_id, waiting.interrupt_id, record);
}
