import type { ChatMessage } from '@baton/core';
import { Checker, type Loc, isObject } from './validate.ts';

/**
 * Request bodies that carry a message: the agent server's `SendMessageRequest`
 * (`{role, content: [TextContent | ImageContent], run}`) and OpenHands 0.53's event
 * dicts (`{"action": "message", "args": {"content": ...}}`), both turned into a
 * Baton ChatMessage.
 */

export const ROLES = ['user', 'system', 'assistant', 'tool'] as const;

/** What a SendMessageRequest asks for. */
export interface SendMessage {
  message: ChatMessage;
  run: boolean;
}

/** The keys TextContent allows (it forbids others); `enable_truncation` is deprecated and dropped. */
const TEXT_KEYS = ['type', 'text', 'cache_prompt', 'enable_truncation'];

/**
 * Parses a SendMessageRequest found at `loc` (`['body']` or `['body', 'initial_message']`).
 * Reports problems to `check`; returns undefined when there were any.
 */
export function parseSendMessage(check: Checker, value: unknown, loc: Loc): SendMessage | undefined {
  const before = check.issues.length;
  const body = check.model(value, loc);
  if (!body) return undefined;
  const role = body.role === undefined ? 'user' : check.literal(body.role, ROLES, [...loc, 'role']);
  const run = body.run === undefined ? false : check.boolean(body.run, [...loc, 'run']);
  const texts: string[] = [];
  const images: string[] = [];
  const items = body.content === undefined ? [] : check.list(body.content, [...loc, 'content']);
  items?.forEach((item, i) => {
    const at = [...loc, 'content', i];
    const part = check.model(item, at);
    if (!part) return;
    const type = part.type === undefined ? 'text' : check.literal(part.type, ['text', 'image'], [...at, 'type']);
    if (part.cache_prompt !== undefined) check.boolean(part.cache_prompt, [...at, 'cache_prompt']);
    if (type === 'image') {
      const urls = part.image_urls === undefined ? check.missing([...at, 'image_urls']) : check.list(part.image_urls, [...at, 'image_urls']);
      urls?.forEach((url, j) => {
        const ok = check.string(url, [...at, 'image_urls', j]);
        if (ok !== undefined) images.push(ok);
      });
    } else if (type === 'text') {
      check.noExtra(part, TEXT_KEYS, at);
      if (part.enable_truncation !== undefined) check.boolean(part.enable_truncation, [...at, 'enable_truncation']);
      const text = part.text === undefined ? check.missing([...at, 'text']) : check.string(part.text, [...at, 'text']);
      if (text !== undefined) texts.push(text);
    }
  });
  if (check.issues.length > before || !role || run === undefined) return undefined;
  return { message: toChatMessage(role, texts, images), run };
}

/**
 * Text parts joined with "\n" become `content` (null when there are none). The first
 * image given as a `data:` URL becomes `base64_image` (kept whole, media type
 * included); every other image URL is kept, in order, in `user_params.image_urls`.
 */
export function toChatMessage(
  role: ChatMessage['role'],
  texts: string[],
  images: string[],
  extra: Record<string, unknown> = {},
): ChatMessage {
  const message: ChatMessage = { role, content: texts.length ? texts.join('\n') : null };
  const dataUrl = images.findIndex((url) => url.startsWith('data:'));
  if (dataUrl >= 0) message.base64_image = images[dataUrl];
  const others = images.filter((_, i) => i !== dataUrl);
  const params: Record<string, unknown> = { ...extra };
  if (others.length) params.image_urls = others;
  if (Object.keys(params).length) message.user_params = params;
  return message;
}

/** What an OpenHands 0.53 event dict asks for. */
export type LegacyEvent =
  | { kind: 'message'; message: ChatMessage }
  | { kind: 'agent_state'; state: (typeof AGENT_STATES)[number] };

/** The agent states a 0.53 client may ask for with `change_agent_state`. */
export const AGENT_STATES = ['paused', 'running', 'stopped'] as const;

/** The 0.53 actions Baton cannot perform: they need OpenHands' sandbox runtime or its agent. */
const RUNTIME_ACTIONS = [
  'run',
  'run_ipython',
  'browse',
  'browse_interactive',
  'read',
  'write',
  'edit',
  'think',
  'finish',
  'reject',
  'delegate',
  'recall',
  'null',
];

/** True when a body to the events route is a 0.53 event dict rather than a SendMessageRequest. */
export function isLegacyEvent(body: unknown): boolean {
  return isObject(body) && 'action' in body;
}

/**
 * Parses a 0.53 event dict: `message` (a user message, run as 0.53's add_event does)
 * and `change_agent_state` to paused/running/stopped. Other actions are refused (422):
 * they need OpenHands' runtime, which Baton does not have.
 */
export function parseLegacyEvent(check: Checker, body: Record<string, unknown>): LegacyEvent | undefined {
  const action = body.action;
  if (typeof action !== 'string') {
    check.add('string_type', ['body', 'action'], 'Input should be a valid string', action);
    return undefined;
  }
  const args = body.args === undefined ? {} : check.dict(body.args, ['body', 'args']);
  if (!args) return undefined;
  if (action === 'message') {
    const content = args.content === undefined ? check.missing(['body', 'args', 'content']) : check.string(args.content, ['body', 'args', 'content']);
    const images = urlList(check, args.image_urls ?? args.images_urls, ['body', 'args', args.image_urls === undefined && args.images_urls !== undefined ? 'images_urls' : 'image_urls']);
    const files = urlList(check, args.file_urls, ['body', 'args', 'file_urls']);
    if (args.wait_for_response !== undefined) check.boolean(args.wait_for_response, ['body', 'args', 'wait_for_response']);
    if (content === undefined || !images || !files) return undefined;
    const extra = files.length ? { file_urls: files } : {};
    return { kind: 'message', message: toChatMessage('user', [content], images, extra) };
  }
  if (action === 'change_agent_state') {
    const state =
      args.agent_state === undefined
        ? check.missing(['body', 'args', 'agent_state'])
        : check.literal(args.agent_state, AGENT_STATES, ['body', 'args', 'agent_state']);
    return state ? { kind: 'agent_state', state } : undefined;
  }
  const why = RUNTIME_ACTIONS.includes(action)
    ? `Baton has no OpenHands runtime: the "${action}" action is not supported; send "message" or "change_agent_state"`
    : `Unknown action "${action}"; send "message" or "change_agent_state"`;
  check.add('value_error', ['body', 'action'], why, action);
  return undefined;
}

function urlList(check: Checker, value: unknown, loc: Loc): string[] | undefined {
  if (value === undefined || value === null) return [];
  const before = check.issues.length;
  const list = check.list(value, loc);
  const urls: string[] = [];
  list?.forEach((url, i) => {
    const ok = check.string(url, [...loc, i]);
    if (ok !== undefined) urls.push(ok);
  });
  return check.issues.length > before ? undefined : urls;
}
