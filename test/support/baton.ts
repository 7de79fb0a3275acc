import { randomUUID } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { BatonProcess } from '@baton/devtools';
import { makeRedisClient, type RedisClient } from '@baton/store';

export interface BatonOptions {
  /** A single server (`redis://…`) or a Redis Cluster (`redis+cluster://host:port,…`). */
  redisUrl: string;
  apis?: number;
  workers?: number;
  /** Env for every process. */
  env?: Record<string, string>;
  apiEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
}

/** Fast timings for tests: stalled turns are noticed in about a second. */
export const FAST_RECOVERY = {
  LOCK_DURATION_MS: '1000',
  STALLED_INTERVAL_MS: '500',
  RUNNING_GRACE_MS: '1000',
  REAPER_INTERVAL_MS: '200',
  SHUTDOWN_TIMEOUT_MS: '2000',
};

/**
 * A Baton deployment for one test file: its own key prefix on the shared test Redis,
 * real API and worker processes, and a plain Redis client to look at its keys.
 */
export class Baton {
  readonly prefix = `t${randomUUID().slice(0, 8)}`;
  readonly apis: BatonProcess[] = [];
  readonly workers: BatonProcess[] = [];
  readonly redis: RedisClient;

  constructor(readonly options: BatonOptions) {
    this.redis = makeRedisClient(options.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  }

  /** KEYS on every master: on a Redis Cluster each node answers only for its own slots. */
  async keys(pattern: string): Promise<string[]> {
    if (!this.redis.isCluster) return this.redis.keys(pattern);
    const cluster = this.redis as Cluster;
    if (cluster.status === 'wait') await cluster.connect();
    return (await Promise.all(cluster.nodes('master').map((node) => node.keys(pattern)))).flat();
  }

  static async start(options: BatonOptions): Promise<Baton> {
    const baton = new Baton(options);
    const started = await Promise.allSettled([
      ...Array.from({ length: options.apis ?? 1 }, () => baton.startApi()),
      ...Array.from({ length: options.workers ?? 1 }, () => baton.startWorker()),
    ]);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) {
      // The processes that did start are not left running behind the failure.
      await baton.stop();
      throw failed.reason;
    }
    return baton;
  }

  private env(extra?: Record<string, string>): Record<string, string> {
    // `TURN_QUEUE_SHARDS=4 npx vitest run test/x.test.ts` runs a suite on sharded queues.
    const shards: Record<string, string> = process.env.TURN_QUEUE_SHARDS ? { TURN_QUEUE_SHARDS: process.env.TURN_QUEUE_SHARDS } : {};
    return { REDIS_URL: this.options.redisUrl, BATON_PREFIX: this.prefix, ...shards, ...this.options.env, ...extra };
  }

  async startApi(env?: Record<string, string>): Promise<BatonProcess> {
    const api = await BatonProcess.start('api', this.env({ ...this.options.apiEnv, ...env }));
    this.apis.push(api);
    return api;
  }

  async startWorker(env?: Record<string, string>): Promise<BatonProcess> {
    const worker = await BatonProcess.start('worker', this.env({ ...this.options.workerEnv, ...env }));
    this.workers.push(worker);
    return worker;
  }

  get url(): string {
    const api = this.apis.find((a) => a.alive);
    if (!api) throw new Error('no API process is running');
    return api.url;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.apis, ...this.workers].map((p) => p.stop()));
    this.redis.disconnect();
  }
}

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** A fetch that sends and parses JSON; bodies that aren't JSON come back as text. */
export async function http<T = any>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // keep text
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

/** Creates a session and returns its id. */
export async function createSession(base: string, body: unknown = {}): Promise<string> {
  const res = await http(base, 'POST', '/sessions', body);
  if (res.status !== 201) throw new Error(`create session: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.session_id;
}

/** Long-polls until the session is no longer running (or `timeoutS`). */
export async function waitForIdle(base: string, id: string, timeoutS = 30): Promise<any> {
  const res = await http(base, 'GET', `/sessions/${id}?wait=true&timeout=${timeoutS}`);
  if (res.status !== 200) throw new Error(`wait: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
