import { once, setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { ApiEnv, ConfigError, makeFaultHook, parseEnv } from '@baton/core';
import { agentAvailability, agentsConfigFromEnv } from '@baton/agents';
import { TurnQueue, WebhookQueue } from '@baton/queue';
import {
  DeliveryLog,
  SandboxStore,
  SessionService,
  WebhookService,
  SessionStore,
  SessionWatcher,
  makeProducerConnection,
  makeWorkerConnection,
  waitForReady,
} from '@baton/store';
import { buildApp } from './app.ts';
import { Keyring } from './http/auth.ts';
import { makeWebhookUrlCheck } from './webhook-guard.ts';

async function main(): Promise<void> {
  const env = parseEnv(ApiEnv, process.env);
  const logger = pino({ name: 'baton-api', level: env.LOG_LEVEL });

  const redis = makeProducerConnection(env.REDIS_URL, 'baton-api');
  const subscriber = makeWorkerConnection(env.REDIS_URL, 'baton-api-sub');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  subscriber.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
  await Promise.all([waitForReady(redis, env.REDIS_URL), waitForReady(subscriber, env.REDIS_URL)]);

  const store = new SessionStore(redis, {
    prefix: env.BATON_PREFIX,
    runningGraceMs: env.RUNNING_GRACE_MS,
    notifyAll: env.WEBHOOK_ENDPOINTS.length > 0,
  });
  const queue = new TurnQueue(redis, env.BATON_PREFIX);
  const webhookQueue = new WebhookQueue(redis, env.BATON_PREFIX);
  const webhooks = new WebhookService(new DeliveryLog(redis, env.BATON_PREFIX), webhookQueue);
  const watcher = new SessionWatcher(subscriber);
  const service = new SessionService({
    store,
    queue,
    defaultAgent: env.AGENT,
    agents: agentAvailability(agentsConfigFromEnv(env)),
    maxSessions: env.MAX_SESSIONS,
    checkWebhookUrl: makeWebhookUrlCheck({ allowPrivate: env.WEBHOOK_ALLOW_PRIVATE }),
    fault: makeFaultHook(env.BATON_FAULT),
  });
  const shutdown = new AbortController();
  // Every waiting long-poll listens for shutdown; there is no leak to warn about.
  setMaxListeners(0, shutdown.signal);
  const app = buildApp({
    logger,
    bodyLimit: env.BODY_LIMIT,
    keyring: new Keyring(env.API_KEYS),
    sandboxes: new SandboxStore(redis, { prefix: env.BATON_PREFIX }),
    service,
    webhooks,
    store,
    watcher,
    longPoll: { defaultS: env.LONG_POLL_DEFAULT_S, maxS: env.LONG_POLL_MAX_S },
    pageLimitMax: env.PAGE_LIMIT_MAX,
    shutdown: shutdown.signal,
  });

  const server = app.listen(env.PORT, env.HOST);
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
    await Promise.all([queue.close(), webhookQueue.close()]).catch(() => {});
    redis.disconnect();
    subscriber.disconnect();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  const message = err instanceof ConfigError ? err.message : (err as Error).stack ?? String(err);
  console.error(`baton-api: ${message}`);
  process.exit(1);
});
