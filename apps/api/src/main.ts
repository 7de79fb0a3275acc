import { once, setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ApiEnv, ConfigError, makeFaultHook, makeLogger, parseEnv, queueShards } from '@baton/core';
import { AgentCatalog, agentAvailability, agentsConfigFromEnv, checkDefaultAgent, loadAgentsModule } from '@baton/agents';
import { CanaryQueue, TurnQueue, WebhookQueue } from '@baton/queue';
import {
  DeliveryLog,
  deliveryLogLimits,
  TenantUsage,
  EndpointBreakers,
  IdempotencyStore,
  RateLimiter,
  SandboxStore,
  SessionService,
  WebhookService,
  SessionStore,
  SessionWatcher,
  makeProducerConnection,
  makeWorkerConnection,
  waitForReady,
  checkRedisSettings,
  ReplicaWait,
  coalesceWrites,
} from '@baton/store';
import { makeConfigCheck } from './agent-config.ts';
import { buildApp } from './app.ts';
import { WaiterSlots } from './long-poll.ts';
import { ConversationKeys } from './http/conversation-keys.ts';
import { Keyring } from './http/auth.ts';
import { bodyLimitBytes } from './http/json-body.ts';
import { attachEventSockets } from './surfaces/openhands/socket.ts';
import { answerParserErrors } from './http/parser-errors.ts';
import { ApiMetrics } from './metrics.ts';
import { makeWebhookUrlCheck } from './webhook-guard.ts';

async function main(): Promise<void> {
  const env = parseEnv(ApiEnv, process.env);
  // Only to know the module's agent names and check sessions' config: agent code runs on workers.
  const moduleAgents = env.AGENTS_MODULE ? await loadAgentsModule(env.AGENTS_MODULE) : [];
  checkDefaultAgent(env.AGENT, moduleAgents);
  const logger = await makeLogger({
    name: 'baton-api',
    level: env.LOG_LEVEL,
    pretty: env.LOG_PRETTY,
    nodeEnv: env.NODE_ENV,
    isTTY: process.stdout.isTTY,
    // A fault may SIGKILL this process: what it logged before must not die in pino's buffer.
    sync: env.BATON_FAULT !== undefined,
  });

  const redis = makeProducerConnection(env.REDIS_URL, 'baton-api');
  const subscriber = makeWorkerConnection(env.REDIS_URL, 'baton-api-sub');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  subscriber.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
  await Promise.all([waitForReady(redis, env.REDIS_URL), waitForReady(subscriber, env.REDIS_URL)]);
  // Refuses to start when Redis may evict Baton's keys; warns when it persists nothing.
  const settings = await checkRedisSettings(redis, { allowEviction: env.REDIS_ALLOW_EVICTION });
  for (const warning of settings.warnings) logger.warn(warning);
  // The commands of one event-loop turn leave in one socket write (the subscriber's are few).
  coalesceWrites(redis);

  const store = new SessionStore(redis, {
    prefix: env.BATON_PREFIX,
    runningGraceMs: env.RUNNING_GRACE_MS,
    notifyAll: env.WEBHOOK_ENDPOINTS.length > 0,
    streamTtlMs: env.STREAM_TTL_S * 1000,
    maxMessages: env.MAX_MESSAGES_PER_SESSION,
    requestTtlMs: env.IDEMPOTENCY_TTL_S * 1000,
    ...(env.SESSION_TTL_S ? { sessionTtlMs: env.SESSION_TTL_S * 1000 } : {}),
  });
  // Sharded queues (TURN_QUEUE_SHARDS): a session's jobs go to the shard of its id.
  const shards = queueShards(env);
  const queue = new TurnQueue(redis, env.BATON_PREFIX, shards.turns);
  const webhookQueue = new WebhookQueue(redis, env.BATON_PREFIX, shards.webhooks);
  const webhooks = new WebhookService(new DeliveryLog(redis, env.BATON_PREFIX, deliveryLogLimits(env)), webhookQueue, new EndpointBreakers(redis, env.BATON_PREFIX));
  const watcher = new SessionWatcher(subscriber);
  const canary = new CanaryQueue(redis, env.BATON_PREFIX, {
    maxAgeMs: env.READY_MAX_AGE_MS,
    intervalMs: env.READY_CANARY_INTERVAL_MS,
    waitMs: env.READY_WAIT_MS,
  });
  const service = new SessionService({
    store,
    queue,
    defaultAgent: env.AGENT,
    agents: agentAvailability(agentsConfigFromEnv(env), moduleAgents),
    checkConfig: makeConfigCheck(new AgentCatalog(agentsConfigFromEnv(env), moduleAgents)),
    maxSessions: env.MAX_SESSIONS,
    tenantMaxSessions: env.TENANT_MAX_SESSIONS,
    ...(env.TENANT_MAX_BYTES > 0 ? { usage: new TenantUsage(redis, env.BATON_PREFIX, env.TENANT_MAX_BYTES) } : {}),
    checkWebhookUrl: makeWebhookUrlCheck({ allowPrivate: env.WEBHOOK_ALLOW_PRIVATE }),
    fault: makeFaultHook(env.BATON_FAULT),
    ...(env.REDIS_WAIT_REPLICAS > 0
      ? { replicas: new ReplicaWait(redis, { prefix: env.BATON_PREFIX, replicas: env.REDIS_WAIT_REPLICAS, timeoutMs: env.REDIS_WAIT_TIMEOUT_MS }) }
      : {}),
  });
  const shutdown = new AbortController();
  // Every waiting long-poll listens for shutdown; there is no leak to warn about.
  setMaxListeners(0, shutdown.signal);
  // Long-polls and event sockets share MAX_WAITERS.
  const waiters = new WaiterSlots(env.MAX_WAITERS);
  const keyring = new Keyring(env.API_KEYS, env.ADMIN_KEY);
  const rateLimiter =
    env.RATE_LIMIT_PER_S > 0 && env.API_KEYS.length
      ? new RateLimiter(redis, { prefix: env.BATON_PREFIX, perSecond: env.RATE_LIMIT_PER_S, burst: env.RATE_LIMIT_BURST })
      : undefined;
  const app = buildApp({
    logger,
    bodyLimit: env.BODY_LIMIT,
    keyring,
    sandboxes: new SandboxStore(redis, { prefix: env.BATON_PREFIX }),
    service,
    webhooks,
    store,
    watcher,
    longPoll: { defaultS: env.LONG_POLL_DEFAULT_S, maxS: env.LONG_POLL_MAX_S },
    pageLimitMax: env.PAGE_LIMIT_MAX,
    shutdown: shutdown.signal,
    sseHeartbeatMs: env.SSE_HEARTBEAT_S * 1000,
    sseBufferBytes: env.SSE_BUFFER_BYTES,
    sseWriteTimeoutMs: env.SSE_WRITE_TIMEOUT_S * 1000,
    logRequests: env.LOG_REQUESTS,
    idempotency: new IdempotencyStore(redis, { prefix: env.BATON_PREFIX, ttlMs: env.IDEMPOTENCY_TTL_S * 1000, pendingTtlMs: env.IDEMPOTENCY_PENDING_S * 1000, maxBodyBytes: env.IDEMPOTENCY_MAX_BODY_BYTES }),
    ...(rateLimiter ? { rateLimiter } : {}),
    waiters,
    ops: {
      canary,
      metrics: new ApiMetrics({ turns: queue, webhooks: webhookQueue }, logger),
      adminKey: env.ADMIN_KEY,
      board: { queues: [...queue.shards, ...webhookQueue.shards, canary.queue], readOnly: env.ADMIN_BOARD_READONLY },
    },
  });

  const server = app.listen(env.PORT, env.HOST);
  answerParserErrors(server);
  // OpenHands clients follow conversations over a WebSocket (`/sockets/events/{id}`).
  attachEventSockets(server, {
    service,
    store,
    watcher,
    keyring,
    conversationKeys: new ConversationKeys(keyring, service),
    waiters,
    shutdown: shutdown.signal,
    logger,
    heartbeatMs: env.SSE_HEARTBEAT_S * 1000,
    maxPayload: bodyLimitBytes(env.BODY_LIMIT),
    maxBufferedBytes: env.SSE_BUFFER_BYTES,
    writeTimeoutMs: env.SSE_WRITE_TIMEOUT_S * 1000,
    ...(rateLimiter ? { rateLimiter } : {}),
  });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  logger.info({ port, redis: env.REDIS_URL.replace(/\/\/[^@/]*@/, '//***@') }, `Baton API listening on http://localhost:${port}`);

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    stopping = true;
    logger.info({ signal }, 'shutting down: answering long-polls, closing connections');
    shutdown.abort();
    server.close();
    server.closeIdleConnections();
    await once(server, 'close').catch(() => {});
    await Promise.all([queue.close(), webhookQueue.close(), canary.close()]).catch(() => {});
    redis.disconnect();
    subscriber.disconnect();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Started by `npm start` (scripts/start.ts), in a process group of its own, with an IPC
  // channel: when that script is gone, however it ended, stop as on SIGTERM (not as a second signal).
  if (process.connected) {
    process.once('disconnect', () => {
      if (!stopping) void stop('SIGTERM');
    });
  }
}

main().catch((err) => {
  const message = err instanceof ConfigError ? err.message : (err as Error).stack ?? String(err);
  console.error(`baton-api: ${message}`);
  process.exit(1);
});
