import { z } from 'zod';
import { SURFACE_PAGES } from './openapi-examples.ts';
import { ERROR_CODES, type ErrorCode, REQUEST_SCHEMAS, RESPONSE_SCHEMAS } from './openapi-components.ts';
import { type Header, type OpenApiOptions, type Reply, type RouteDoc, nativeRoutes } from './openapi-routes.ts';

export * from './openapi-components.ts';
export * from './openapi-routes.ts';

/**
 * The OpenAPI 3.1 document of the native API, built from the zod schemas the routes
 * validate requests with and type their responses by: there is no hand-written spec.
 * `nativeRoutes` (openapi-routes.ts) is the one list of operations; a unit test fails when a route registered in
 * the Express app is missing from it (or the other way round).
 */

const PATH_PARAMS: Record<string, { description: string; schema: object }> = {
  id: {
    description: 'Session id, a UUID: the `session_id` that `POST /sessions` answered (with `PUT`, one of your choosing)',
    schema: { type: 'string', format: 'uuid' },
  },
  delivery_id: { description: 'Delivery id, from `GET /sessions/{id}/webhooks`', schema: { type: 'string', maxLength: 200 } },
  page: { description: 'A page of `docs/surfaces/`', schema: { type: 'string', enum: [...SURFACE_PAGES], example: SURFACE_PAGES[0] } },
};

const HEADERS: Record<Header, { description: string; schema: object }> = {
  location: { description: 'The session: `/sessions/{id}`', schema: { type: 'string' } },
  'x-next-cursor': { description: 'The next page\'s `cursor` (absent on the last page)', schema: { type: 'string' } },
  link: { description: '`</sessions?limit=…&cursor=…>; rel="next"` (absent on the last page)', schema: { type: 'string' } },
  'retry-after': { description: 'Seconds to wait before retrying', schema: { type: 'string' } },
};

const DESCRIPTION = `Baton runs AI-agent conversations asynchronously: send a message to a session, get \`202 Accepted\`
at once, and follow the turn by long-polling (\`GET /sessions/{id}?wait=true\`) or a webhook.

This document covers Baton's **native API** (the Motus serve API shapes plus Baton's additions). Bodies are JSON.
Every error answers \`{"error": {"code", "message", "details"?}}\`; an unknown path answers 404
\`route_not_found\`, a known path with another method 405 \`method_not_allowed\` (\`Allow\` lists the right ones).

**Auth**: when the server sets \`API_KEYS\`, every route needs \`Authorization: Bearer <key>\` (401 \`unauthorized\`
otherwise) except \`/health\`, \`/ready\`, \`/openapi.json\`, \`/docs\` and the console's page and files (\`/console/\`), which
are public; \`/metrics\` takes the \`ADMIN_KEY\` when the server sets one. Without \`API_KEYS\` auth is off.

**Compatible APIs** served from the same sessions, each with its own key header and error shape (not in this
document; see the repository's docs):
- OpenHands agent server and 0.53: \`/api/conversations…\` — [docs/surfaces/openhands.md](/docs/surfaces/openhands.md)
- OpenHands V1 app server: \`/api/v1/app-conversations…\`, \`/api/v1/sandboxes…\` — [docs/surfaces/openhands-v1.md](/docs/surfaces/openhands-v1.md)
- agenhq: \`/api/v1/sessions…\` — [docs/surfaces/agenhq.md](/docs/surfaces/agenhq.md)

**Trying it out**: \`POST /sessions\` first; paste the \`session_id\` it answers into the other operations' \`id\`.
Webhooks to loopback or private addresses are refused unless the server sets \`WEBHOOK_ALLOW_PRIVATE=true\`
(development only).`;

export type OpenApiDocument = {
  openapi: '3.1.0';
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> } & Record<string, unknown>;
} & Record<string, unknown>;
type JsonSchema = Record<string, unknown>;
interface Operation {
  operationId: string;
  responses: Record<string, { description: string; content?: Record<string, { schema: JsonSchema }> }>;
  [key: string]: unknown;
}

/** The OpenAPI 3.1 document of the native API. Pure: same options, same document. */
export function openApiDocument(options: OpenApiOptions): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of nativeRoutes(options)) {
    (paths[route.path] ??= {})[route.method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Baton API', version: options.version ?? '0.1.0', description: DESCRIPTION },
    servers: [{ url: '/' }],
    tags: [
      { name: 'Sessions', description: 'Sessions, messages and turns' },
      { name: 'Webhooks', description: 'The webhook delivery log, dead letters and redelivery' },
      { name: 'Service', description: 'Health, readiness, metrics and this reference' },
    ],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: { ...componentSchemas(RESPONSE_SCHEMAS, 'output'), ...componentSchemas(REQUEST_SCHEMAS, 'input') },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'One of the server\'s `API_KEYS` (each key is a tenant). Not needed when `API_KEYS` is unset.',
        },
        admin: {
          type: 'http',
          scheme: 'bearer',
          description: 'The server\'s `ADMIN_KEY` (`/metrics`); not needed when `ADMIN_KEY` is unset.',
        },
      },
    },
  };
}

/** Every POST takes one (IETF httpapi idempotency-key draft). */
const IDEMPOTENCY_KEY_PARAM = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes a retry safe: the same key with the same request replays the first response (`Idempotent-Replayed: true`) and runs nothing; ' +
    'kept `IDEMPOTENCY_TTL_S` (24 h) per API key. A message\'s turn (and a new session\'s id) is recorded under the key as it is stored, ' +
    'so a retry after a lost answer (a 5xx, a dropped connection) gets the stored turn or session instead of a second one.',
  schema: { type: 'string', minLength: 1, maxLength: 255 },
};

function operation(route: RouteDoc): Operation {
  const params: Record<string, unknown>[] = [...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => {
    const param = PATH_PARAMS[name as string];
    if (!param) throw new Error(`openapi: no description of path parameter ${name}`);
    return { name, in: 'path', required: true, ...param };
  });
  if (route.query) params.push(...queryParams(route.query));
  if (route.method === 'post') params.push(IDEMPOTENCY_KEY_PARAM);
  const op: Operation = {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    ...(route.public ? { security: [] } : route.admin ? { security: [{}, { admin: [] }] } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: false,
            content: { 'application/json': { schema: ref(route.body), ...(route.example ? { example: route.example } : {}) } },
          },
        }
      : {}),
    responses: {},
  };
  for (const [status, reply] of Object.entries(route.replies)) op.responses[status] = response(reply);
  for (const [status, codes] of errorsByStatus(route)) {
    op.responses[status] = {
      description: codes.map((code) => `\`${code}\`: ${ERROR_CODES[code].when}`).join('; '),
      ...(status === 503 || status === 429 ? { headers: headers(['retry-after']) } : {}),
      content: {
        'application/json': {
          schema: {
            allOf: [
              ref('ErrorBody'),
              { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string', enum: codes } } } } },
            ],
          },
        },
      },
    };
  }
  return op;
}

function errorsByStatus(route: RouteDoc): Map<number, ErrorCode[]> {
  const codes = new Set<ErrorCode>(route.errors ?? []);
  if (route.body) for (const code of ['invalid_json', 'payload_too_large', 'unsupported_media_type', 'validation_failed'] as const) codes.add(code);
  if (route.query) codes.add('validation_failed');
  if (route.admin) codes.add('unauthorized');
  else if (!route.public) {
    codes.add('unauthorized');
    codes.add('rate_limited');
    codes.add('service_unavailable');
  }
  if (route.method === 'post') for (const code of ['idempotency_key_invalid', 'idempotency_key_in_flight', 'idempotency_key_reused'] as const) codes.add(code);
  if (!route.public && (route.method === 'post' || route.method === 'put')) codes.add('storage_full');
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    if (!codes.has(code)) continue;
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return new Map([...byStatus].sort(([a], [b]) => a - b));
}

function response(reply: Reply): Operation['responses'][string] {
  const out: Operation['responses'][string] & { headers?: object } = { description: reply.description };
  if (reply.headers) out.headers = headers(reply.headers);
  if (reply.body === 'html') out.content = { 'text/html': { schema: { type: 'string' } } };
  else if (reply.body === 'event-stream') out.content = { 'text/event-stream': { schema: { type: 'string' } } };
  // Markdown goes out as text/plain, which every browser shows rather than downloads.
  else if (reply.body === 'markdown' || reply.body === 'prometheus') out.content = { 'text/plain': { schema: { type: 'string' } } };
  else if (reply.body === 'document') out.content = { 'application/json': { schema: { type: 'object', description: 'OpenAPI 3.1' } } };
  else if (typeof reply.body === 'string') out.content = { 'application/json': { schema: ref(reply.body) } };
  else if (reply.body) out.content = { 'application/json': { schema: { type: 'array', items: ref(reply.body[0]) } } };
  return out;
}

function headers(names: Header[]): Record<string, { description: string; schema: object }> {
  return Object.fromEntries(names.map((name) => [name, HEADERS[name]]));
}

function ref(name: string): JsonSchema {
  return { $ref: `#/components/schemas/${name}` };
}

function queryParams(query: z.ZodObject) {
  const schema = z.toJSONSchema(query, { io: 'input' }) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(schema.properties ?? {}).map(([name, { description, ...property }]) => ({
    name,
    in: 'query',
    required: schema.required?.includes(name) ?? false,
    ...(typeof description === 'string' ? { description } : {}),
    schema: property,
  }));
}

/** zod schemas → named components that `$ref` each other; `$id`/`$schema` dropped (they belong to the document). */
function componentSchemas(schemas: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const { schemas: out } = z.toJSONSchema(registry, { io, uri: (id) => `#/components/schemas/${id}` });
  return Object.fromEntries(
    Object.entries(out).map(([id, { $id: _id, $schema: _schema, ...schema }]) => [id, schema as JsonSchema]),
  );
}
