import type { ChatMessage } from '@baton/core';

/** What Baton notes beside each history message; never shown to agents or clients as-is. */
export interface MessageMeta {
  /** When it entered the history (ms). */
  at: number;
  /** The turn it started or answered. */
  turn?: string;
  /** The step of its turn that recorded it (tool calls, tool results...: not the turn's message or reply). */
  step?: number;
  /** A client's own id for it (agenhq `client_id`). */
  client_id?: string;
}

/** History entries are ChatMessage JSON with a `_meta` member (request schemas are strict, so clients cannot send one). */
export function encodeMessage(message: ChatMessage, meta: MessageMeta): string {
  return JSON.stringify({ ...message, _meta: meta });
}

export function decodeStored(raw: string): { message: ChatMessage; meta: MessageMeta | null } {
  const { _meta, ...message } = JSON.parse(raw) as ChatMessage & { _meta?: MessageMeta };
  return { message: message as ChatMessage, meta: _meta ?? null };
}

export function decodeMessage(raw: string): ChatMessage {
  return decodeStored(raw).message;
}
