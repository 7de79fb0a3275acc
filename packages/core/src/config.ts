import { z } from 'zod';
import { MAX_QUEUE_SHARDS, parseShardList, queueShards } from './queue-shards.ts';

/**
 * Environment schemas. Apps read `process.env` once, in `main.ts`, and pass it here;
 * packages never read the environment themselves.
 */
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', ''])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1');

/** The longest SESSION_TTL_S (10 years): Redis refuses expiry times much beyond. */
const MAX_SESSION_TTL_S = 10 * 365 * 86_400;
const SESSION_TTL_MESSAGE = `must be a whole number of seconds from 1 to ${MAX_SESSION_TTL_S} (unset it to keep sessions for ever)`;

export const CommonEnv = z.object({
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** Start even when Redis's maxmemory-policy is not `noeviction` (a full Redis then deletes Baton's keys). */
  REDIS_ALLOW_EVICTION: bool(false),
  BATON_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only')
    .default('baton'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  RUNNING_GRACE_MS: int(10_000, 100),
  /** The default agent: a built-in one or one of AGENTS_MODULE's (checked once the module is loaded). */
  AGENT: z.string().default('echo'),
  /** A TypeScript or JavaScript module exporting agents built with `defineAgent` (`export default [...]`). */
  AGENTS_MODULE: z.string().min(1).optional(),
  ECHO_DELAY_MS: int(0),
  OPENAI_BASE_URL: z.url().optional(),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_MODEL: z.string().default('gpt-4o-mini'),
  HTTP_AGENT_URL: z.url({ protocol: /^https?$/ }).optional(),
  HTTP_AGENT_TOKEN: z.string().optional(),
  BATON_FAULT: z.string().optional(),
  /**
   * After how long a turn waiting for a person (`interrupted`) ends with an error; unset: it
   * waits as long as it takes. The reaper ends it (the API shows it in GET as well).
   */
  INTERRUPT_TIMEOUT_S: z.coerce.number().int().min(1).optional(),
  /** Server-wide webhook endpoints (comma-separated URLs): told of every turn's end. */
  WEBHOOK_ENDPOINTS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((u) => u.trim()).filter(Boolean))
    .pipe(z.array(z.url({ protocol: /^https?$/, error: 'each must be an absolute http(s) URL' }))),
  /** Lifts the webhook address check (loopback, private, link-local...): local development and tests only. */
  WEBHOOK_ALLOW_PRIVATE: bool(false),
  /** Webhook deliveries kept per session (the oldest finished ones are dropped first; pending ones stay); 0: no cap. */
  WEBHOOK_LOG_MAX: int(100),
  /** How long a delivery is kept after it was created (s; default 7 days); 0: while the session lives. */
  WEBHOOK_LOG_TTL_S: int(7 * 24 * 3600),
  /** Dead letters kept in the server's list and in each tenant's (the oldest are dropped); 0: no cap. */
  DEAD_LETTERS_MAX: int(10_000),
  /** Bytes of messages one API key's sessions may hold (approximate; set it on the API and the workers); more: 403 `storage_quota_exceeded`. 0: no quota. */
  TENANT_MAX_BYTES: int(0),
  /** Endpoint breaker: failures in a row (timeouts, connection errors, 5xx) that open it; 0: no breaker. */
  WEBHOOK_BREAKER_FAILURES: int(5, 0),
  /** Endpoint breaker: its first cool-down (ms); it doubles at each opening, up to 10 min. */
  WEBHOOK_BREAKER_COOLDOWN_MS: int(5_000, 1),
  /** An endpoint failing without a success for this long is disabled (its deliveries dead-lettered); 0: never. Svix: 5 days. */
  WEBHOOK_DISABLE_AFTER_S: int(5 * 86_400, 0),
  /** How long a session's event stream (SSE) outlives its newest event. */
  STREAM_TTL_S: int(600, 1),
  /** Pretty (pino-pretty) log lines; unset: pretty when stdout is a terminal and NODE_ENV is not production. */
  LOG_PRETTY: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => (v === undefined ? undefined : v === 'true' || v === '1')),
  NODE_ENV: z.string().optional(),
  /** Key of the operator's pages: Bull Board (`/admin/queues`) and `/metrics` (Bearer or Basic auth). */
  ADMIN_KEY: z.string().min(8, 'must be at least 8 characters').optional(),
  /** Turn queues, each under a hash tag (cluster slot) of its own; unset: 16 on a Redis Cluster, else 1. Same value in every process. */
  TURN_QUEUE_SHARDS: z.coerce.number().int().min(1).max(MAX_QUEUE_SHARDS).optional(),
  /** Webhook delivery queues, likewise; unset: TURN_QUEUE_SHARDS's value. */
  WEBHOOK_QUEUE_SHARDS: z.coerce.number().int().min(1).max(MAX_QUEUE_SHARDS).optional(),
});

export const ApiEnv = CommonEnv.extend({
  PORT: int(3000),
  HOST: z.string().default('0.0.0.0'),
  BODY_LIMIT: z.string().default('1mb'),
  /**
   * How long `?wait=true` holds without a `timeout`: by default LONG_POLL_MAX_S, so a wait
   * lasts until the turn ends or that maximum (Motus clients wait this way).
   */
  LONG_POLL_DEFAULT_S: z.coerce.number().positive().optional(),
  /** The longest a long-poll holds, whatever its `timeout` (Motus clients ask for 90 s). */
  LONG_POLL_MAX_S: z.coerce.number().positive().default(300),
  MAX_SESSIONS: int(0),
  /** Sessions one API key (tenant) may hold; more are refused with 403 `session_quota_exceeded`. 0: no quota. */
  TENANT_MAX_SESSIONS: int(0),
  /** A new message is refused (409 `message_limit_reached`) once history plus queued messages reach this. */
  MAX_MESSAGES_PER_SESSION: int(10_000, 1),
  PAGE_LIMIT_MAX: int(200, 1),
  /** Idle event streams (`GET /sessions/{id}/events`) get a comment line this often. */
  SSE_HEARTBEAT_S: z.coerce.number().positive().default(15),
  /** The most event data one event stream reads ahead for its client (bytes); besides it, only the socket's own 16 KB buffer. */
  SSE_BUFFER_BYTES: int(1_048_576, 1024),
  /** An event stream whose client takes nothing of what was written for this long is closed (it may resume with Last-Event-ID). */
  SSE_WRITE_TIMEOUT_S: z.coerce.number().positive().default(30),
  /** Requests per second per API key (averaged), and how many may come at once; 0: no limit. Needs API_KEYS. */
  RATE_LIMIT_PER_S: z.coerce.number().min(0).default(100),
  RATE_LIMIT_BURST: int(200, 1),
  /** Long-polls (`?wait=true`) and event streams one API process holds at once; more get 503 `too_many_waiters`. */
  MAX_WAITERS: int(10_000, 1),
  /**
   * Idle sessions expire: a session with no turn running, queued or waiting for a person is
   * removed this long after its last write (create, accepted message, turn end). Unset: kept for ever.
   */
  SESSION_TTL_S: z.coerce
    .number({ error: SESSION_TTL_MESSAGE })
    .int({ error: SESSION_TTL_MESSAGE })
    .min(1, { error: SESSION_TTL_MESSAGE })
    .max(MAX_SESSION_TTL_S, { error: SESSION_TTL_MESSAGE })
    .optional(),
  /** How long a response is kept for replay under its Idempotency-Key (default 24 h). */
  IDEMPOTENCY_TTL_S: int(86_400, 1),
  /** The largest response body kept for replay under an Idempotency-Key (bytes); a larger one frees the key (a retry runs again). */
  IDEMPOTENCY_MAX_BODY_BYTES: int(65_536, 0),
  /** How long a request's hold on its Idempotency-Key lasts unless renewed (its API process renews it while the request runs). */
  IDEMPOTENCY_PENDING_S: int(5, 1),
  /** Comma-separated API keys; when set, every route but /health needs one (each key is a tenant). */
  API_KEYS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean)),
  /** One `info` line per request (request id, route, status, time); `false` keeps only errors. */
  LOG_REQUESTS: bool(true),
  /** `/ready`: how recent a worker's canary must be, how often a canary is sent, how long a call waits for one. */
  READY_MAX_AGE_MS: int(30_000, 1),
  READY_CANARY_INTERVAL_MS: int(5_000, 10),
  READY_WAIT_MS: int(500, 0),
  /** Bull Board shows the queues but offers no actions (retry, clean, add...) unless `false`. */
  ADMIN_BOARD_READONLY: bool(true),
  /** Strict durability: replicas that must acknowledge an accepting write (WAIT) before its 201/202; 0: off. */
  REDIS_WAIT_REPLICAS: int(0),
  /** How long that WAIT may take; fewer replicas by then: 503 `replication_timeout`. */
  REDIS_WAIT_TIMEOUT_MS: int(1_000),
})
  .refine((env) => (env.LONG_POLL_DEFAULT_S ?? 0) <= env.LONG_POLL_MAX_S, {
    message: 'LONG_POLL_DEFAULT_S must not exceed LONG_POLL_MAX_S',
    path: ['LONG_POLL_DEFAULT_S'],
  })
  // WAIT with a timeout of 0 blocks for ever: with replicas to wait for, a time limit is required.
  .refine((env) => env.REDIS_WAIT_REPLICAS === 0 || env.REDIS_WAIT_TIMEOUT_MS > 0, {
    message: 'must be at least 1 when REDIS_WAIT_REPLICAS is set (0 would wait for ever)',
    path: ['REDIS_WAIT_TIMEOUT_MS'],
  })
  // The admin key sees every tenant's sessions: a tenant holding the same key would too.
  .refine((env) => !env.ADMIN_KEY || !env.API_KEYS.includes(env.ADMIN_KEY), {
    message: 'ADMIN_KEY must differ from every key in API_KEYS',
    path: ['ADMIN_KEY'],
  })
  .transform((env) => ({ ...env, LONG_POLL_DEFAULT_S: env.LONG_POLL_DEFAULT_S ?? env.LONG_POLL_MAX_S }));
export type ApiEnv = z.infer<typeof ApiEnv>;

export const WorkerEnv = CommonEnv.extend({
  WORKER_CONCURRENCY: int(16, 1),
  TURN_TIMEOUT_MS: int(120_000, 1),
  /** The most steps a turn may take (an agent's tool loop); past it the turn ends with an error. 25: room for the echo contract's 20 tool steps, an interrupt and the reply. */
  MAX_STEPS: int(25, 1),
  /** MiB of session histories a worker keeps between turns (least recently used dropped first); 0: none kept. */
  HISTORY_CACHE_MB: int(64, 0),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 0),
  /** A turn's BullMQ lock, renewed every fifth of it: a dead worker's turn is free this long after its death. */
  LOCK_DURATION_MS: int(5_000, 100),
  /** How often a worker looks for jobs whose lock lapsed (one check per interval across workers). */
  STALLED_INTERVAL_MS: int(3_000, 100),
  MAX_STALLED_COUNT: int(3, 0),
  REAPER_INTERVAL_MS: int(2_000, 50),
  REAPER: bool(true),
  /** Signing secret(s), `whsec_…`; several (space- or comma-separated) while rotating, each signs. */
  WEBHOOK_SECRET: z
    .string()
    .default('')
    .transform((v) => v.split(/[\s,]+/).filter(Boolean))
    .pipe(z.array(z.string().regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'each must be whsec_ + base64'))),
  /** Delay before each attempt: `0,5s,5m,30m,2h,5h,10h,10h` (ms, s, m or h). */
  WEBHOOK_SCHEDULE: z.string().default('0,5s,5m,30m,2h,5h,10h,10h'),
  WEBHOOK_TIMEOUT_MS: int(15_000, 1),
  WEBHOOK_CONCURRENCY: int(50, 1),
  /** `include_messages` webhooks carry at most the last this many messages of the history... */
  WEBHOOK_MESSAGES_MAX: int(100),
  /** ...and at most this many bytes of them (JSON); `messages_truncated: true` when older ones were left out. */
  WEBHOOK_MESSAGES_MAX_BYTES: int(262_144),
  /** Turns one tenant may run at once across every worker; 0: no cap. Sessions without a tenant are not capped. */
  TENANT_MAX_RUNNING: int(0),
  /** Webhook deliveries one tenant may have in flight at once across every worker; 0: no cap. */
  TENANT_MAX_WEBHOOKS_IN_FLIGHT: int(10),
  /** Port of the worker's own Prometheus `/metrics` server; unset: none. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** The queue shards this process consumes (`0-7`, `0-3,8`); unset: all of them. */
  WORKER_SHARDS: z.string().optional(),
})
  .refine((env) => env.STALLED_INTERVAL_MS <= env.LOCK_DURATION_MS * 10, {
    message: 'STALLED_INTERVAL_MS should be within 10× LOCK_DURATION_MS',
    path: ['STALLED_INTERVAL_MS'],
  })
  .superRefine((env, ctx) => {
    if (env.WORKER_SHARDS === undefined) return;
    const { turns, webhooks } = queueShards(env);
    try {
      parseShardList(env.WORKER_SHARDS, Math.max(turns, webhooks));
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, path: ['WORKER_SHARDS'] });
    }
  });
export type WorkerEnv = z.infer<typeof WorkerEnv>;

/** `npm start` (scripts/start.ts): where its private redis-server keeps its data, its port, and how often it fsyncs. */
export const StartEnv = z.object({
  BATON_DATA_DIR: z.string().optional(),
  REDIS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** The private Redis's `appendfsync`: `always` loses no accepted turn in a host crash, at a cost per write (see README, Durability modes). */
  REDIS_APPENDFSYNC: z.enum(['always', 'everysec', 'no']).default('everysec'),
});
export type StartEnv = z.infer<typeof StartEnv>;

export class ConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** Parses the environment, or throws one error naming every bad variable. */
export function parseEnv<T extends z.ZodType>(schema: T, env: Record<string, string | undefined>): z.infer<T> {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
  throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
}
