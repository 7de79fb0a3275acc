import { randomUUID } from 'node:crypto';
import { type IncomingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

/**
 * Bad input on every API surface: each case gets a clear 4xx in the surface's own
 * error shape, with a stable code and a message (or `loc`) that names the field. At
 * the end the server still serves turns, and every key of the deployment is byte for
 * byte what it was before the first case: no refused request left anything behind.
 */

let baton: Baton;
let base: string;
/** The native session and the OpenHands V1 app conversation the refused writes aim at. */
let sid: string;
let v1: string;
let before: Map<string, Buffer | null>;

beforeAll(async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), apiEnv: { BODY_LIMIT: '64kb' } });
  base = baton.url;
  sid = await createSession(base);
  const started = await http(base, 'POST', '/api/v1/app-conversations', {});
  expect(started.status).toBe(200);
  v1 = started.body.app_conversation_id;
  before = await snapshot();
});
afterAll(() => baton?.stop());

/** Every key of this deployment with its DUMP: equal snapshots mean nothing was written. */
async function snapshot(): Promise<Map<string, Buffer | null>> {
  // Less the reaper's pass lock, which workers take and let lapse every interval.
  const keys = (await baton.keys(`${baton.prefix}:*`)).filter((key) => key !== `${baton.prefix}:running:lock`).sort();
  const dumps = await Promise.all(keys.map((key) => baton.redis.dumpBuffer(key)));
  return new Map(keys.map((key, i) => [key, dumps[i] ?? null]));
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
}

/**
 * One request through node:http, which sends the path as written (fetch would resolve
 * `..`) and the body as given: a string or Buffer as is, anything else as JSON.
 */
function send(method: string, path: string, body?: unknown): Promise<Reply> {
  const bytes =
    body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const { hostname, port } = new URL(base);
  const headers = bytes ? { 'content-type': 'application/json', 'content-length': String(bytes.length) } : {};
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path: path.replaceAll('{sid}', sid).replaceAll('{v1}', v1), headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(bytes);
  });
}

/** Writes a request line byte for byte (node:http refuses control characters); returns the status line and the body. */
function rawGet(target: string): Promise<{ statusLine: string; contentType: string | undefined; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    let out = '';
    const socket = connect(Number(port), hostname, () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk) => (out += chunk));
    socket.on('error', () => {}); // the server may reset after answering: 'close' follows
    socket.on('close', () => {
      const [head = '', body = ''] = out.split('\r\n\r\n');
      const [statusLine = '', ...headers] = head.split('\r\n');
      const contentType = headers.find((h) => /^content-type:/i.test(h))?.replace(/^content-type:\s*/i, '');
      resolve({ statusLine, contentType, body });
    });
  });
}

const deepArrays = (n: number) => '['.repeat(n) + ']'.repeat(n);
const deepObjects = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
/** A JSON body with raw bytes that are not UTF-8 inside a string. */
const notUtf8 = (before: string, bytes: number[], after = '"}') => Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);
const huge = 'x'.repeat(70_000); // over BODY_LIMIT (64 kB)
const hook = (webhook: Record<string, unknown>) => ({ content: 'x', webhook: { url: 'https://example.com/hook', ...webhook } });
const FRESH = randomUUID(); // PUT to it never succeeds: the snapshot shows it was not created
const M = '/sessions/{sid}/messages';
const OH = '/api/conversations';
const V1 = '/api/v1/app-conversations';
const AQ = '/api/v1/sessions';

/**
 * One refused request. `field` is what the answer must name: the native API's
 * `details[].path` and message, FastAPI's `loc` (422) or `detail`, Fastify's message.
 * `code` is the native `error.code`, FastAPI's `type` (422) or agenhq's `code`.
 */
interface Case {
  name: string;
  method?: string;
  path: string;
  body?: unknown;
  status: number;
  code?: string;
  field: string;
}

function expectRefused(res: Reply, c: Case): void {
  expect(res.status, JSON.stringify(res.body)?.slice(0, 300)).toBe(c.status);
  // Nothing from the request made it into a response header.
  expect(res.headers['set-cookie']).toBeUndefined();
  expect(res.headers['x-injected']).toBeUndefined();
  if (c.path.startsWith(AQ)) {
    expect(res.body).toMatchObject({ statusCode: c.status, code: c.code });
    expect(res.body.message).toContain(c.field);
  } else if (c.path.startsWith('/api/')) {
    if (c.status !== 422) return void expect(res.body.detail).toContain(c.field);
    const issue = res.body.detail.find((d: { loc: unknown[] }) => d.loc.join('.') === c.field);
    expect(issue, JSON.stringify(res.body.detail)).toBeDefined();
    if (c.code) expect(issue.type).toBe(c.code);
  } else {
    expect(res.body.error.code).toBe(c.code);
    expect(res.body.error.message).toContain(c.field);
    if (c.status === 422) expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(c.field);
  }
}

const INVALID = { status: 400, code: 'invalid_json', field: 'not valid JSON' };
const NOT_UTF8 = { status: 400, code: 'invalid_json', field: 'not valid UTF-8' };
const TOO_LARGE = { status: 413, code: 'payload_too_large', field: 'larger than the limit of 65536 bytes' };
const invalid = (field: string) => ({ status: 422, code: 'validation_failed', field });
const TOO_DEEP = 'nested deeper than 128 levels';

const NATIVE: Case[] = [
  // Malformed JSON, and JSON that is not an object.
  { name: 'message: truncated JSON', path: M, body: '{"content": "x"', ...INVALID },
  { name: 'message: trailing comma', path: M, body: '{"content": "x",}', ...INVALID },
  { name: 'message: single quotes', path: M, body: "{'content': 'x'}", ...INVALID },
  { name: 'message: NaN', path: M, body: '{"content": NaN}', ...INVALID },
  { name: 'create: unquoted key', path: '/sessions', body: '{state: []}', ...INVALID },
  { name: 'PUT create: truncated JSON', method: 'PUT', path: `/sessions/${FRESH}`, body: '{', ...INVALID },
  { name: 'message: a string', path: M, body: '"hello"', ...INVALID },
  { name: 'message: null', path: M, body: 'null', ...INVALID },
  { name: 'message: a number', path: M, body: '42', ...INVALID },
  { name: 'message: an array', path: M, body: '[]', ...invalid('body') },
  { name: 'create: an array', path: '/sessions', body: [{ role: 'user' }], ...invalid('body') },
  // Wrong types.
  { name: 'content: a number', path: M, body: { content: 5 }, ...invalid('body.content') },
  { name: 'role: not a role', path: M, body: { content: 'x', role: 'robot' }, ...invalid('body.role') },
  { name: 'if_busy: not a policy', path: M, body: { content: 'x', if_busy: 'later' }, ...invalid('body.if_busy') },
  { name: 'tool_calls: an object', path: M, body: { content: 'x', tool_calls: {} }, ...invalid('body.tool_calls') },
  {
    name: 'tool_calls: arguments not a string',
    path: M,
    body: { content: null, role: 'assistant', tool_calls: [{ id: '1', function: { name: 'f', arguments: {} } }] },
    ...invalid('body.tool_calls.0.function.arguments'),
  },
  { name: 'user_params: an array', path: M, body: { content: 'x', user_params: [1] }, ...invalid('body.user_params') },
  { name: 'base64_image: a number', path: M, body: { content: 'x', base64_image: 7 }, ...invalid('body.base64_image') },
  { name: 'webhook: a string', path: M, body: { content: 'x', webhook: 'https://example.com' }, ...invalid('body.webhook') },
  { name: 'webhook.url: a number', path: M, body: hook({ url: 5 }), ...invalid('body.webhook.url') },
  { name: 'webhook.include_messages: a string', path: M, body: hook({ include_messages: 'yes' }), ...invalid('body.webhook.include_messages') },
  { name: 'create: state an object', path: '/sessions', body: { state: {} }, ...invalid('body.state') },
  { name: 'create: state content a number', path: '/sessions', body: { state: [{ content: 1 }] }, ...invalid('body.state.0.content') },
  { name: 'create: unknown agent', path: '/sessions', body: { agent: 'gpt-9' }, ...invalid('body.agent') },
  { name: 'create: ftp webhook', path: '/sessions', body: { webhook: { url: 'ftp://example.com/x' } }, ...invalid('body.webhook.url') },
  // Huge strings: over the body limit, or over a field's own limit.
  { name: 'message: content over the body limit', path: M, body: { content: huge }, ...TOO_LARGE },
  { name: 'create: state over the body limit', path: '/sessions', body: { state: [{ content: huge }] }, ...TOO_LARGE },
  { name: 'name: 257 characters', path: M, body: { content: 'x', name: 'n'.repeat(257) }, ...invalid('body.name') },
  { name: 'tool_call_id: 257 characters', path: M, body: { content: 'x', role: 'tool', tool_call_id: 'i'.repeat(257) }, ...invalid('body.tool_call_id') },
  { name: 'webhook.url: over 2048', path: M, body: hook({ url: `https://example.com/${'a'.repeat(2048)}` }), ...invalid('body.webhook.url') },
  { name: 'webhook.token: over 4096', path: M, body: hook({ token: 't'.repeat(4097) }), ...invalid('body.webhook.token') },
  { name: 'webhook.secret: over 600', path: M, body: hook({ secret: `whsec_${'A'.repeat(600)}` }), ...invalid('body.webhook.secret') },
  // Deep nesting (10 000 levels overflowed JSON.stringify's stack: a 500 before MAX_JSON_DEPTH).
  { name: 'user_params: 10 000 nested arrays', path: M, body: `{"content":"x","user_params":{"a":${deepArrays(10_000)}}}`, ...invalid('body.user_params.a') },
  { name: 'user_params: 5 000 nested objects', path: M, body: `{"content":"x","user_params":${deepObjects(5_000)}}`, ...invalid('body.user_params.a.a.a') },
  { name: 'content: 10 000 nested arrays', path: M, body: `{"content":${deepArrays(10_000)}}`, ...invalid('body.content') },
  { name: 'webhook: 10 000 nested arrays', path: M, body: `{"content":"x","webhook":${deepArrays(10_000)}}`, ...invalid('body.webhook') },
  { name: 'the body: 10 000 nested arrays', path: M, body: deepArrays(10_000), ...invalid('body') },
  { name: 'create: state message 10 000 deep', path: '/sessions', body: `{"state":[{"user_params":{"a":${deepArrays(10_000)}}}]}`, ...invalid('body.state') },
  // Invalid UTF-8: refused, not stored with U+FFFD in place of the bad bytes.
  { name: 'content: bytes ff fe', path: M, body: notUtf8('{"content":"a', [0xff, 0xfe]), ...NOT_UTF8 },
  { name: 'content: overlong "/" (c0 af)', path: M, body: notUtf8('{"content":"', [0xc0, 0xaf]), ...NOT_UTF8 },
  { name: 'content: encoded surrogate (ed a0 80)', path: M, body: notUtf8('{"content":"', [0xed, 0xa0, 0x80]), ...NOT_UTF8 },
  { name: 'content: truncated sequence (e2 82)', path: M, body: notUtf8('{"content":"', [0xe2, 0x82]), ...NOT_UTF8 },
  { name: 'a key: byte ff', path: M, body: notUtf8('{"', [0xff], '":"x"}'), ...NOT_UTF8 },
  { name: 'create: state content byte 80', path: '/sessions', body: notUtf8('{"state":[{"content":"', [0x80], '"}]}'), ...NOT_UTF8 },
  // Unknown fields.
  { name: 'unknown field', path: M, body: { content: 'x', colour: 'blue' }, ...invalid('body.colour') },
  { name: '__proto__', path: M, body: '{"content":"x","__proto__":{"admin":true}}', ...invalid('body.__proto__') },
  { name: 'constructor', path: M, body: { content: 'x', constructor: { prototype: { admin: true } } }, ...invalid('body.constructor') },
  { name: 'unknown field in a tool call', path: M, body: { content: null, tool_calls: [{ id: '1', function: { name: 'f', arguments: '{}', x: 1 } }] }, ...invalid('body.tool_calls.0.function.x') },
  { name: 'create: unknown field', path: '/sessions', body: { statee: [] }, ...invalid('body.statee') },
  { name: 'create: unknown field in state', path: '/sessions', body: { state: [{ content: 'x', mood: 'ok' }] }, ...invalid('body.state.0.mood') },
  // Header injection: a webhook's token goes into Authorization; it takes no headers of its own.
  { name: 'webhook.token: CR LF', path: M, body: hook({ token: 'abc\r\nX-Injected: 1' }), ...invalid('body.webhook.token') },
  { name: 'webhook.token: LF', path: M, body: hook({ token: 'abc\nX-Injected: 1' }), ...invalid('body.webhook.token') },
  { name: 'webhook.token: NUL', path: M, body: hook({ token: 'abc\u0000' }), ...invalid('body.webhook.token') },
  { name: 'webhook.token: not ASCII', path: M, body: hook({ token: 'tökén' }), ...invalid('body.webhook.token') },
  { name: 'webhook.secret: CR LF', path: M, body: hook({ secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\r\nX-Injected: 1' }), ...invalid('body.webhook.secret') },
  { name: 'webhook.url: CR LF', path: M, body: hook({ url: 'https://example.com/hook\r\nX-Injected: 1' }), ...invalid('body.webhook.url') },
  { name: 'webhook.url: a tab in the host', path: M, body: hook({ url: 'https://exam\tple.com/hook' }), ...invalid('body.webhook.url') },
  { name: 'webhook.headers: CR LF in a value', path: M, body: hook({ headers: { 'X-Ok': 'a\r\nX-Injected: 1' } }), ...invalid('body.webhook.headers') },
  { name: 'webhook.headers: Host', path: M, body: hook({ headers: { Host: 'evil.example' } }), ...invalid('body.webhook.headers') },
  { name: 'webhook.headers: Content-Length', path: M, body: hook({ headers: { 'Content-Length': '0' } }), ...invalid('body.webhook.headers') },
  { name: 'webhook.headers: a name with a space', path: M, body: hook({ headers: { 'X Bad': 'x' } }), ...invalid('body.webhook.headers') },
  { name: 'webhook.headers: a name with a colon', path: M, body: hook({ headers: { 'X-A:b': 'x' } }), ...invalid('body.webhook.headers') },
  { name: 'create: webhook.token CR LF', path: '/sessions', body: { webhook: { url: 'https://example.com/h', token: 'a\r\nX-Injected: 1' } }, ...invalid('body.webhook.token') },
  // Query parameters.
  ...['abc', '0', '1000000', '1.5', '1&limit=2'].map((limit) => ({ name: `list: limit=${limit}`, method: 'GET', path: `/sessions?limit=${limit}`, ...invalid('query.limit') })),
  { name: 'list: cursor not from this API', method: 'GET', path: '/sessions?cursor=garbage', ...invalid('query.cursor') },
  { name: 'list: cursor of 300 characters', method: 'GET', path: `/sessions?cursor=${'x'.repeat(300)}`, ...invalid('query.cursor') },
  { name: 'get: wait=maybe', method: 'GET', path: '/sessions/{sid}?wait=maybe', ...invalid('query.wait') },
  ...['-1', 'abc', '1e400', '%ff'].map((t) => ({ name: `get: timeout=${t}`, method: 'GET', path: `/sessions/{sid}?wait=true&timeout=${t}`, ...invalid('query.timeout') })),
  // Session ids with path or control characters, or far too long.
  ...['..', '..%2F..%2Fetc%2Fpasswd', '%2e%2e', '%00', '{sid}%00', '{sid}%0D%0AX-Injected:%201', 'a'.repeat(10_000)].flatMap((id) => [
    { name: `get: id ${id.slice(0, 40)}`, method: 'GET', path: `/sessions/${id}`, status: 404, code: 'session_not_found', field: 'not found' },
    { name: `message: id ${id.slice(0, 40)}`, path: `/sessions/${id}/messages`, body: { content: 'x' }, status: 404, code: 'session_not_found', field: 'not found' },
    { name: `PUT: id ${id.slice(0, 40)}`, method: 'PUT', path: `/sessions/${id}`, status: 400, code: 'invalid_session_id', field: 'must be a UUID' },
  ]),
  { name: 'delete: traversal to a real id', method: 'DELETE', path: '/sessions/..%2Fsessions%2F{sid}', status: 404, code: 'session_not_found', field: '../sessions/' },
  { name: 'message: id Set-Cookie', path: '/sessions/%0D%0ASet-Cookie:%20a=b/messages', body: { content: 'x' }, status: 404, code: 'session_not_found', field: 'Set-Cookie' },
  ...['%ff', '%E2%82', `${FRESH}%C0%AF`].flatMap((id) => [
    { name: `get: id ${id} (not UTF-8)`, method: 'GET', path: `/sessions/${id}`, status: 400, code: 'invalid_path', field: 'percent-encoded' },
    { name: `PUT: id ${id} (not UTF-8)`, method: 'PUT', path: `/sessions/${id}`, status: 400, code: 'invalid_path', field: 'percent-encoded' },
  ]),
];

const TEXT = { type: 'text', text: 'x' };
const SURFACES: Case[] = [
  // OpenHands agent server: FastAPI's `{detail}`, 422 `{detail: [{loc, msg, type}]}`.
  { name: 'OH create: truncated JSON', path: OH, body: '{"initial_message":', status: 422, code: 'json_invalid', field: 'body.19' },
  { name: 'OH create: an array', path: OH, body: [1], status: 422, code: 'model_attributes_type', field: 'body' },
  { name: 'OH create: content a string', path: OH, body: { initial_message: { content: 'hi' } }, status: 422, code: 'list_type', field: 'body.initial_message.content' },
  { name: 'OH create: role not a role', path: OH, body: { initial_message: { role: 'robot' } }, status: 422, code: 'literal_error', field: 'body.initial_message.role' },
  { name: 'OH create: title of 201', path: OH, body: { title: 't'.repeat(201) }, status: 422, code: 'string_too_long', field: 'body.title' },
  { name: 'OH create: conversation_id a path', path: OH, body: { conversation_id: '../../etc/passwd' }, status: 422, code: 'uuid_parsing', field: 'body.conversation_id' },
  { name: 'OH create: unknown field in a text part', path: OH, body: { initial_message: { content: [{ ...TEXT, bogus: 1 }] } }, status: 422, code: 'extra_forbidden', field: 'body.initial_message.content.0.bogus' },
  { name: 'OH create: content 10 000 deep', path: OH, body: `{"initial_message":{"content":${deepArrays(10_000)}}}`, status: 422, code: 'value_error', field: 'body.initial_message.content' },
  { name: 'OH create: ignored field 10 000 deep', path: OH, body: `{"agent":${deepArrays(10_000)}}`, status: 422, code: 'value_error', field: 'body.agent' },
  { name: 'OH create: not UTF-8', path: OH, body: notUtf8('{"title":"', [0xff]), status: 400, field: 'not valid UTF-8' },
  { name: 'OH create: over the body limit', path: OH, body: { title: huge }, status: 413, field: 'larger than the limit' },
  { name: 'OH event: text a number', path: `${OH}/{sid}/events`, body: { content: [{ type: 'text', text: 5 }], run: true }, status: 422, code: 'string_type', field: 'body.content.0.text' },
  { name: 'OH event: run not a boolean', path: `${OH}/{sid}/events`, body: { content: [TEXT], run: 'perhaps' }, status: 422, code: 'bool_parsing', field: 'body.run' },
  { name: 'OH 0.53 event: content a number', path: `${OH}/{sid}/events`, body: { action: 'message', args: { content: 5 } }, status: 422, code: 'string_type', field: 'body.args.content' },
  { name: 'OH 0.53 event: a runtime action', path: `${OH}/{sid}/events`, body: { action: 'run', args: { command: 'rm -rf /' } }, status: 422, code: 'value_error', field: 'body.action' },
  { name: 'OH event: not UTF-8', path: `${OH}/{sid}/events`, body: notUtf8('{"content":[{"text":"', [0xfe], '"}]}'), status: 400, field: 'not valid UTF-8' },
  { name: 'OH event: id a traversal', path: `${OH}/..%2F{sid}/events`, body: { content: [TEXT] }, status: 422, code: 'uuid_parsing', field: 'path.conversation_id' },
  { name: 'OH event: id not UTF-8', path: `${OH}/%ff/events`, body: { content: [TEXT] }, status: 400, field: 'percent-encoded' },
  // OpenHands V1 app server: FastAPI's shape too.
  { name: 'V1 start: truncated JSON', path: V1, body: '{', status: 422, code: 'json_invalid', field: 'body.1' },
  { name: 'V1 start: conversation_id not a UUID', path: V1, body: { conversation_id: 'nope' }, status: 422, code: 'uuid_parsing', field: 'body.conversation_id' },
  { name: 'V1 start: content a string', path: V1, body: { initial_message: { content: 'hi' } }, status: 422, code: 'list_type', field: 'body.initial_message.content' },
  { name: 'V1 start: role not a role', path: V1, body: { initial_message: { role: 'robot' } }, status: 422, code: 'literal_error', field: 'body.initial_message.role' },
  { name: 'V1 start: pr_number of strings', path: V1, body: { pr_number: ['1'] }, status: 422, code: 'int_parsing', field: 'body.pr_number.0' },
  { name: 'V1 start: sandbox_id a number', path: V1, body: { sandbox_id: 5 }, status: 422, code: 'string_type', field: 'body.sandbox_id' },
  { name: 'V1 start: an array', path: V1, body: [1], status: 422, code: 'model_attributes_type', field: 'body' },
  { name: 'V1 start: ignored field 10 000 deep', path: V1, body: `{"agent":${deepArrays(10_000)}}`, status: 422, field: 'body.agent' },
  { name: 'V1 start: not UTF-8', path: V1, body: notUtf8('{"title":"', [0xc3]), status: 400, field: 'not valid UTF-8' },
  { name: 'V1 start: over the body limit', path: V1, body: { title: huge }, status: 413, field: 'larger than the limit' },
  { name: 'V1 send: an array', path: `${V1}/{v1}/send-message`, body: '[]', status: 422, code: 'model_attributes_type', field: 'body' },
  { name: 'V1 send: no body', path: `${V1}/{v1}/send-message`, status: 422, code: 'missing', field: 'body' },
  { name: 'V1 send: no content field', path: `${V1}/{v1}/send-message`, body: {}, status: 422, code: 'missing', field: 'body.content' },
  { name: 'V1 send: no content', path: `${V1}/{v1}/send-message`, body: { content: [] }, status: 422, code: 'too_short', field: 'body.content' },
  { name: 'V1 send: text missing', path: `${V1}/{v1}/send-message`, body: { content: [{ type: 'text' }] }, status: 422, code: 'missing', field: 'body.content.0.text' },
  { name: 'V1 send: role not user', path: `${V1}/{v1}/send-message`, body: { role: 'system', content: [TEXT] }, status: 422, code: 'literal_error', field: 'body.role' },
  { name: 'V1 send: run not a boolean', path: `${V1}/{v1}/send-message`, body: { content: [TEXT], run: 'x' }, status: 422, code: 'bool_type', field: 'body.run' },
  { name: 'V1 send: truncated JSON', path: `${V1}/{v1}/send-message`, body: '{"content":', status: 422, code: 'json_invalid', field: 'body.11' },
  { name: 'V1 search: limit=0', method: 'GET', path: `${V1}/search?limit=0`, status: 422, code: 'greater_than', field: 'query.limit' },
  { name: 'V1 search: limit=101', method: 'GET', path: `${V1}/search?limit=101`, status: 422, code: 'less_than_equal', field: 'query.limit' },
  { name: 'V1 search: limit=abc', method: 'GET', path: `${V1}/search?limit=abc`, status: 422, code: 'int_parsing', field: 'query.limit' },
  { name: 'V1 sandboxes: limit=0', method: 'GET', path: '/api/v1/sandboxes/search?limit=0', status: 422, code: 'greater_than', field: 'query.limit' },
  { name: 'V1 get: no ids', method: 'GET', path: V1, status: 422, code: 'missing', field: 'query.ids' },
  { name: 'V1 start tasks: no ids', method: 'GET', path: `${V1}/start-tasks`, status: 422, code: 'missing', field: 'query.ids' },
  { name: 'V1 events count: no conversation', method: 'GET', path: '/api/v1/events/count', status: 422, code: 'missing', field: 'query.conversation_id__eq' },
  { name: 'V1 events count: not a UUID', method: 'GET', path: '/api/v1/events/count?conversation_id__eq=nope', status: 422, code: 'uuid_parsing', field: 'query.conversation_id__eq' },
  { name: 'OH event: no body', path: `${OH}/{sid}/events`, status: 422, code: 'missing', field: 'body' },
  { name: 'OH event: truncated JSON', path: `${OH}/{sid}/events`, body: '{"content":[', status: 422, code: 'json_invalid', field: 'body.12' },
  { name: 'OH search: limit=0', method: 'GET', path: `${OH}/search?limit=0`, status: 422, code: 'greater_than', field: 'query.limit' },
  { name: 'OH search: limit=101', method: 'GET', path: `${OH}/search?limit=101`, status: 422, code: 'less_than_equal', field: 'query.limit' },
  { name: 'V1 send: content 10 000 deep', path: `${V1}/{v1}/send-message`, body: `{"content":${deepArrays(10_000)}}`, status: 422, field: 'body.content' },
  { name: 'V1 send: not UTF-8', path: `${V1}/{v1}/send-message`, body: notUtf8('{"content":[{"text":"', [0xff], '"}]}'), status: 400, field: 'not valid UTF-8' },
  // agenhq: Fastify's `{statusCode, error, message}` plus `code`.
  { name: 'agenhq create: truncated JSON', path: AQ, body: '{"title":', ...INVALID },
  { name: 'agenhq create: branch_name a number', path: AQ, body: { branch_name: 5 }, status: 400, code: 'FST_ERR_VALIDATION', field: 'body/branch_name' },
  { name: 'agenhq create: title of 257', path: AQ, body: { title: 't'.repeat(257) }, status: 400, code: 'FST_ERR_VALIDATION', field: 'body/title' },
  { name: 'agenhq create: auto_commit a string', path: AQ, body: { auto_commit: 'yes' }, status: 400, code: 'FST_ERR_VALIDATION', field: 'body/auto_commit' },
  { name: 'agenhq create: ignored field 10 000 deep', path: AQ, body: `{"x":${deepArrays(10_000)}}`, status: 422, code: 'validation_failed', field: 'body.x' },
  { name: 'agenhq create: not UTF-8', path: AQ, body: notUtf8('{"title":"', [0xff]), ...NOT_UTF8 },
  { name: 'agenhq create: over the body limit', path: AQ, body: { title: huge }, ...TOO_LARGE },
  { name: 'agenhq message: empty', path: `${AQ}/{sid}/messages`, body: { message: '' }, status: 400, code: 'FST_ERR_VALIDATION', field: 'body/message' },
  { name: 'agenhq message: a number', path: `${AQ}/{sid}/messages`, body: { message: 5 }, status: 400, code: 'FST_ERR_VALIDATION', field: 'body/message' },
  { name: 'agenhq message: missing', path: `${AQ}/{sid}/messages`, body: {}, status: 400, code: 'FST_ERR_VALIDATION', field: "property 'message'" },
  { name: 'agenhq message: an array', path: `${AQ}/{sid}/messages`, body: [1], status: 400, code: 'FST_ERR_VALIDATION', field: 'body must be object' },
  { name: 'agenhq message: client_id of 257', path: `${AQ}/{sid}/messages`, body: { message: 'x', client_id: 'c'.repeat(257) }, status: 400, code: 'FST_ERR_VALIDATION', field: 'body/client_id' },
  { name: 'agenhq message: ignored field 10 000 deep', path: `${AQ}/{sid}/messages`, body: `{"message":"x","meta":${deepArrays(10_000)}}`, status: 422, code: 'validation_failed', field: 'body.meta' },
  { name: 'agenhq message: id a traversal', path: `${AQ}/..%2F{sid}/messages`, body: { message: 'x' }, status: 404, code: 'session_not_found', field: 'not found' },
  { name: 'agenhq message: id not UTF-8', path: `${AQ}/%ff/messages`, body: { message: 'x' }, status: 400, code: 'invalid_path', field: 'percent-encoded' },
  { name: 'agenhq list: limit=0', method: 'GET', path: `${AQ}?limit=0`, status: 400, code: 'FST_ERR_VALIDATION', field: 'querystring/limit' },
];

describe('the native API refuses bad input with a 4xx, a code and the field', () => {
  it.each(NATIVE)('$name: $status $code', async (c) => {
    expectRefused(await send(c.method ?? 'POST', c.path, c.body), c);
  });
});

describe('the compatibility APIs refuse it in their own shapes', () => {
  it.each(SURFACES)('$name: $status', async (c) => {
    expectRefused(await send(c.method ?? 'POST', c.path, c.body), c);
  });
});

describe("request lines Node's HTTP parser refuses before Express sees them: still the JSON error body", () => {
  it.each([
    ['a NUL', '/sessions/a\u0000b', 400, 'malformed_request'],
    ['a control character', '/sessions/a\u0001b', 400, 'malformed_request'],
    ['DEL', '/sessions/a\u007fb', 400, 'malformed_request'],
    ['a tab', '/sessions/a\tb', 400, 'malformed_request'],
    ['a bare CR', '/sessions/a\rb', 400, 'malformed_request'],
    ['a space', '/sessions/a b/messages', 400, 'malformed_request'],
    ['an id of 20 000 characters', `/sessions/${'a'.repeat(20_000)}`, 431, 'headers_too_large'],
  ])('%s in the path: %i %s', async (_name, target, status, code) => {
    const res = await rawGet(target);
    expect(res.statusLine).toBe(`HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : 'Request Header Fields Too Large'}`);
    expect(res.contentType).toMatch(/^application\/json/);
    const message = expect.stringMatching(status === 400 ? /request line/ : /headers/);
    expect(JSON.parse(res.body)).toEqual({ error: { code, message }, detail: message });
  });
});

describe('afterwards', () => {
  it('no refused request left anything behind: every key is byte for byte as before', async () => {
    const after = await snapshot();
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [key, dump] of before) expect(after.get(key), key).toEqual(dump);
    expect((await http(base, 'GET', `/sessions/${sid}`)).body).toMatchObject({ status: 'idle', total_messages: 0, pending_messages: 0 });
    expect((await http(base, 'GET', `/sessions/${sid}/messages`)).body).toEqual([]);
  });

  it('the server is still up: no 5xx was answered, /health is ok and a turn still round-trips', async () => {
    const api = baton.apis[0]!;
    expect(api.alive).toBe(true);
    expect(api.count(/"status":5\d\d/)).toBe(0);
    expect(await http(base, 'GET', '/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
    const sent = await http(base, 'POST', `/sessions/${sid}/messages`, { content: 'still here' });
    expect(sent.status).toBe(202);
    expect(await waitForIdle(base, sid)).toMatchObject({ status: 'idle', response: { content: 'echo: still here' } });
  });
});
