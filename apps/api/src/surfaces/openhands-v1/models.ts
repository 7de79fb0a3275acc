import { z } from 'zod';
import { AppError, type ChatMessage, type SessionView, ValidationError, isUuid } from '@baton/core';
import type { SandboxRecord, SandboxStatus } from '@baton/store';
import { RequestValidationError } from '../openhands/errors.ts';

/**
 * Shapes of the OpenHands V1 app server (openhands/app_server: AppConversation,
 * AppConversationStartRequest, AppConversationStartTask, AppSendMessageRequest/Response,
 * SandboxInfo, SandboxSpecInfo, the `{items, next_page_id}` pages). Requests are
 * lenient as pydantic's are: unknown fields are ignored.
 */

/** The one sandbox spec Baton offers: there is no image to pick, turns run on Baton's workers. */
export const DEFAULT_SPEC = {
  id: 'baton-default',
  command: null,
  created_at: '2025-01-01T00:00:00.000Z',
  initial_env: {},
  working_dir: '/workspace',
} as const;

export const SPECS = [DEFAULT_SPEC];

// ---------------------------------------------------------------- ids

/** OpenHands writes UUIDs as 32 hex digits; Baton as the dashed form. Both are accepted. */
export function normalizeUuid(value: string): string | null {
  const v = value.trim().toLowerCase();
  if (isUuid(v)) return v;
  if (/^[0-9a-f]{32}$/.test(v)) return `${v.slice(0, 8)}-${v.slice(8, 12)}-${v.slice(12, 16)}-${v.slice(16, 20)}-${v.slice(20)}`;
  return null;
}

const uuidField = z.string().transform((value, ctx) => {
  const id = normalizeUuid(value);
  if (id === null) {
    ctx.addIssue({ code: 'custom', message: 'Input should be a valid UUID' });
    return z.NEVER;
  }
  return id;
});

// ---------------------------------------------------------------- requests

const TextContent = z.object({
  type: z.literal('text').optional(),
  text: z.string({ error: 'Field required' }),
});
const ImageContent = z.object({
  type: z.literal('image'),
  image_urls: z.array(z.string()),
});
const Content = z.union([TextContent, ImageContent], { error: 'Input should be a text or image content block' });
export type Content = z.infer<typeof Content>;

const contentList = (min: number) =>
  z.array(Content, { error: (issue) => (issue.input === undefined ? 'Field required' : 'Input should be a valid list') })
    .min(min, `List should have at least ${min} item after validation, not 0`);

/** `POST /app-conversations/{id}/send-message` (AppSendMessageRequest). */
export const SendMessageBody = z.object(
  {
    role: z.literal('user', { error: "Input should be 'user'" }).default('user'),
    content: contentList(1),
    run: z.boolean({ error: 'Input should be a valid boolean' }).default(true),
  },
  { error: 'Input should be a valid dictionary or object to extract fields from' },
);

/** The agent server's SendMessageRequest, as `initial_message` of a start request. */
const InitialMessage = z.object({
  role: z.enum(['user', 'system', 'assistant']).default('user'),
  content: contentList(0).default([]),
  run: z.boolean().optional(),
});

const optionalString = z.string().nullish();

/** `POST /app-conversations` (AppConversationStartRequest); what Baton cannot honour is accepted and ignored. */
export const StartRequest = z.object(
  {
    sandbox_id: optionalString,
    conversation_id: uuidField.nullish(),
    initial_message: InitialMessage.nullish(),
    system_message_suffix: optionalString,
    llm_model: optionalString,
    selected_repository: optionalString,
    selected_branch: optionalString,
    git_provider: optionalString,
    title: optionalString,
    trigger: optionalString,
    pr_number: z.array(z.number().int()).default([]),
    parent_conversation_id: uuidField.nullish(),
    agent_type: z.string().default('default'),
    public: z.boolean().nullish(),
  },
  { error: 'Input should be a valid dictionary or object to extract fields from' },
);
export type StartRequest = z.infer<typeof StartRequest>;

export const PageQuery = z.object({
  page_id: z.string().max(400).optional(),
  limit: z.coerce
    .number({ error: 'Input should be a valid integer' })
    .int('Input should be a valid integer')
    .gt(0, 'Input should be greater than 0')
    .lte(100, 'Input should be less than or equal to 100')
    .default(100),
});

/** Content blocks → one ChatMessage: texts joined with "\n"; images kept as `base64_image` / `user_params.image_urls`. */
export function toChatMessage(role: ChatMessage['role'], content: Content[]): ChatMessage {
  const texts: string[] = [];
  const images: string[] = [];
  for (const block of content) {
    if ('text' in block) texts.push(block.text);
    else images.push(...block.image_urls);
  }
  const message: ChatMessage = { role, content: texts.length ? texts.join('\n') : null };
  const inline = images.map((url) => /^data:[^;,]+;base64,(.*)$/s.exec(url)?.[1]).find((b64) => b64 !== undefined);
  if (inline !== undefined) message.base64_image = inline;
  if (images.length) message.user_params = { image_urls: images };
  return message;
}

// ---------------------------------------------------------------- pages

export function encodePageId(member: string): string {
  return Buffer.from(member).toString('base64url');
}

/** Decodes a `page_id` this API gave out, or answers 422 naming `query.page_id`. */
export function decodePageId(pageId: string, pattern: RegExp): string {
  const member = Buffer.from(pageId, 'base64url').toString();
  if (!pattern.test(member)) {
    throw new ValidationError([{ path: 'query.page_id', message: 'not a next_page_id from this API' }]);
  }
  return member;
}

/** The values of a repeated query parameter (`?ids=a&ids=b`); 422 when it is absent. */
export function queryList(query: Record<string, unknown>, name: string): string[] {
  const raw = query[name];
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw.map(String) : [String(raw)];
  if (!values.length) throw new RequestValidationError([{ type: 'missing', loc: ['query', name], msg: 'Field required' }]);
  return values;
}

export function badRequest(message: string): AppError {
  return new AppError(400, 'bad_request', message);
}

// ---------------------------------------------------------------- responses

/** The agent status OpenHands reports (ConversationExecutionStatus); null unless the sandbox runs. */
export function executionStatus(view: SessionView, sandboxStatus: SandboxStatus): string | null {
  if (sandboxStatus !== 'RUNNING') return null;
  if (view.status === 'running') return 'running';
  if (view.status === 'interrupted') return 'waiting_for_confirmation';
  if (view.paused) return 'paused';
  if (view.status === 'error') return 'error';
  return view.response ? 'finished' : 'idle';
}

/** The Baton session attributes that make a session an app conversation. */
export function isAppConversation(view: SessionView | null): view is SessionView {
  return Boolean(view?.attributes.sandbox_id);
}

/** AppConversation, from a session and its sandbox (null: the sandbox record is gone). */
export function appConversation(view: SessionView, sandbox: SandboxRecord | null, origin: string) {
  const a = view.attributes;
  const sandboxStatus: SandboxStatus = sandbox?.status ?? 'MISSING';
  return {
    id: view.session_id,
    created_by_user_id: view.tenant || null,
    sandbox_id: a.sandbox_id ?? '',
    selected_repository: a.selected_repository ?? null,
    selected_branch: a.selected_branch ?? null,
    git_provider: a.git_provider ?? null,
    title: a.title ?? null,
    trigger: a.trigger ?? null,
    pr_number: a.pr_number ? (JSON.parse(a.pr_number) as number[]) : [],
    llm_model: a.llm_model ?? null,
    agent_kind: 'openhands',
    metrics: null,
    parent_conversation_id: a.parent_conversation_id ?? null,
    sub_conversation_ids: [],
    public: a.public === undefined ? null : a.public === 'true',
    tags: {},
    created_at: view.created_at,
    updated_at: view.updated_at,
    acp_server: null,
    sandbox_status: sandboxStatus,
    execution_status: executionStatus(view, sandboxStatus),
    // Baton serves the agent-server API itself, under /api/conversations.
    conversation_url: sandboxStatus === 'RUNNING' ? `${origin}/api/conversations/${view.session_id}` : null,
    session_api_key: null,
  };
}

/** The `request` echoed in a start task, rebuilt from what the conversation keeps. */
export function startRequestEcho(view: SessionView, initialMessage: unknown = null) {
  const a = view.attributes;
  return {
    sandbox_id: a.sandbox_id ?? null,
    conversation_id: view.session_id,
    initial_message: initialMessage,
    system_message_suffix: null,
    processors: null,
    llm_model: a.llm_model ?? null,
    selected_repository: a.selected_repository ?? null,
    selected_branch: a.selected_branch ?? null,
    git_provider: a.git_provider ?? null,
    dependency_repos: [],
    suggested_task: null,
    title: a.title ?? null,
    trigger: a.trigger ?? null,
    pr_number: a.pr_number ? (JSON.parse(a.pr_number) as number[]) : [],
    parent_conversation_id: a.parent_conversation_id ?? null,
    agent_type: a.agent_type ?? 'default',
    public: a.public === undefined ? null : a.public === 'true',
    plugins: null,
    secrets: null,
  };
}

/**
 * AppConversationStartTask. Baton starts a conversation while the request waits, so
 * the task is READY at once; its id is the conversation's id, which is how
 * `GET /app-conversations/start-tasks?ids=` finds it again.
 */
export function startTask(view: SessionView, origin: string, initialMessage: unknown = null) {
  return {
    id: view.session_id,
    created_by_user_id: view.tenant || null,
    status: 'READY',
    detail: null,
    app_conversation_id: view.session_id,
    sandbox_id: view.attributes.sandbox_id ?? null,
    agent_server_url: origin,
    dependency_repos_cloned: [],
    request: startRequestEcho(view, initialMessage),
    created_at: view.created_at,
    updated_at: view.created_at,
  };
}

/** SandboxInfo. A running sandbox exposes Baton itself as its AGENT_SERVER. */
export function sandboxInfo(record: SandboxRecord, origin: string) {
  const url = new URL(origin);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return {
    id: record.id,
    created_by_user_id: record.tenant || null,
    sandbox_spec_id: record.sandbox_spec_id,
    status: record.status,
    session_api_key: null,
    exposed_urls: record.status === 'RUNNING' ? [{ name: 'AGENT_SERVER', url: origin, port }] : null,
    created_at: record.created_at,
  };
}
