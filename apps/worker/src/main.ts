import { Worker } from 'bullmq';
import { ConfigError, WorkerEnv, makeFaultHook, makeLogger, parseEnv, parseShardList, queuePrefix, queueShards } from '@baton/core';
import { agentsConfigFromEnv, checkDefaultAgent, loadAgentsModule, makeAgentRegistry } from '@baton/agents';
import { CANARY_QUEUE, TurnQueue, WebhookQueue, recordCanary } from '@baton/queue';
import { DeliveryLog, EndpointBreakers, SessionStore, TenantSlots, TenantUsage, deliveryLogLimits, checkRedisSettings, makeWorkerConnection, waitForReady } from '@baton/store';
import { DEFAULT_MAX_COOLDOWN_MS, parseSchedule } from '@baton/webhooks';
import { withTenantSlot } from './fairness/turn-slots.ts';
import { ActiveTurns } from './active-turns.ts';
import { WorkerMetrics, portOf, serveMetrics } from './metrics.ts';
import { makeTurnProcessor } from './processors/turn-run.ts';
import { startReaper } from './reaper.ts';
import { drainLegacyQueue, makeShardWorkers } from './shard-workers.ts';
import { makeWebhookProcessor } from './webhooks/deliver.ts';
import { flushOutbox } from './webhooks/outbox.ts';

async function main(): Promise<void> {
  const env = parseEnv(WorkerEnv, process.env);
  // Your agents (AGENTS_MODULE), beside the built-ins; a bad module stops the worker here.
  const moduleAgents = env.AGENTS_MODULE ? await loadAgentsModule(env.AGENTS_MODULE) : [];
  checkDefaultAgent(env.AGENT, moduleAgents);
  const logger = await makeLogger({
    name: 'baton-worker',
    level: env.LOG_LEVEL,
    pretty: env.LOG_PRETTY,
    nodeEnv: env.NODE_ENV,
    isTTY: process.stdout.isTTY,
    // A fault may SIGKILL this process: what it logged before must not die in pino's buffer.
    sync: env.BATON_FAULT !== undefined,
  });
  // Turn and webhook metrics, served on METRICS_PORT when it is set.
  const metrics = env.METRICS_PORT === undefined ? null : new WorkerMetrics();
  const schedule = webhookSchedule(env.WEBHOOK_SCHEDULE, env.WEBHOOK_LOG_TTL_S);
  if (env.WEBHOOK_SECRET.length === 0) logger.warn('WEBHOOK_SECRET is not set: webhooks without a secret of their own go unsigned');

  const redis = makeWorkerConnection(env.REDIS_URL, 'baton-worker');
  const subscriber = makeWorkerConnection(env.REDIS_URL, 'baton-worker-sub');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  subscriber.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
  await Promise.all([waitForReady(redis, env.REDIS_URL), waitForReady(subscriber, env.REDIS_URL)]);
  // Refuses to start when Redis may evict Baton's keys; warns when it persists nothing.
  const settings = await checkRedisSettings(redis, { allowEviction: env.REDIS_ALLOW_EVICTION });
  for (const warning of settings.warnings) logger.warn(warning);

  const store = new SessionStore(redis, {
    prefix: env.BATON_PREFIX,
    runningGraceMs: env.RUNNING_GRACE_MS,
    notifyAll: env.WEBHOOK_ENDPOINTS.length > 0,
    streamTtlMs: env.STREAM_TTL_S * 1000,
    historyCacheBytes: env.HISTORY_CACHE_MB * 1024 * 1024,
  });
  // Sharded queues (TURN_QUEUE_SHARDS): this process consumes every shard, or WORKER_SHARDS.
  const shards = queueShards(env);
  const only = env.WORKER_SHARDS === undefined ? undefined : parseShardList(env.WORKER_SHARDS, Math.max(shards.turns, shards.webhooks));
  const queue = new TurnQueue(redis, env.BATON_PREFIX, shards.turns);
  const deliveries = new DeliveryLog(redis, env.BATON_PREFIX, deliveryLogLimits(env));
  const webhookQueue = new WebhookQueue(redis, env.BATON_PREFIX, shards.webhooks);
  const flush = (sessionId: string) =>
    flushOutbox(
      {
        log: deliveries,
        queue: webhookQueue,
        endpoints: env.WEBHOOK_ENDPOINTS,
        firstDelayMs: schedule[0] ?? 0,
        messagesMax: env.WEBHOOK_MESSAGES_MAX,
        messagesMaxBytes: env.WEBHOOK_MESSAGES_MAX_BYTES,
      },
      sessionId,
    );
  const active = new ActiveTurns();
  const agentFor = makeAgentRegistry(agentsConfigFromEnv(env), {
    modules: moduleAgents,
    // Tool runs are logged (at debug: tests count them).
    onToolRun: (tool, toolCallId) => logger.debug({ tool, toolCallId }, 'tool executed'),
  });
  const interruptTimeoutMs = env.INTERRUPT_TIMEOUT_S === undefined ? undefined : env.INTERRUPT_TIMEOUT_S * 1000;

  const fault = makeFaultHook(env.BATON_FAULT);
  // Cancels (DELETE of a running session) reach whichever worker runs the turn. Only a hurry:
  // the cancel is recorded with the session, and finish.lua honours it even if this is lost.
  await subscriber.subscribe(store.keys.cancel);
  subscriber.on('message', (_channel: string, key: string) => {
    if (fault('worker.cancel-message') === 'skip') return;
    const [sessionId, turnId] = key.split('\n');
    if (active.cancel(key)) logger.info({ sessionId, turnId }, 'turn cancelled');
  });

  // Fairness between tenants (README, Fairness): caps per tenant across every worker.
  if (env.TENANT_MAX_WEBHOOKS_IN_FLIGHT === 0 || env.TENANT_MAX_WEBHOOKS_IN_FLIGHT >= env.WEBHOOK_CONCURRENCY) {
    logger.warn(
      { TENANT_MAX_WEBHOOKS_IN_FLIGHT: env.TENANT_MAX_WEBHOOKS_IN_FLIGHT, WEBHOOK_CONCURRENCY: env.WEBHOOK_CONCURRENCY },
      "one tenant's receivers may hold every webhook slot of this worker: set TENANT_MAX_WEBHOOKS_IN_FLIGHT below WEBHOOK_CONCURRENCY",
    );
  }
  const turnSlots = env.TENANT_MAX_RUNNING > 0
    ? new TenantSlots(redis, env.BATON_PREFIX, 'turns', { max: env.TENANT_MAX_RUNNING, leaseMs: env.LOCK_DURATION_MS })
    : null;
  const runTurn = makeTurnProcessor({
    store,
    queue,
    agentFor,
    active,
    turnTimeoutMs: env.TURN_TIMEOUT_MS,
    maxSteps: env.MAX_STEPS,
    ...(interruptTimeoutMs ? { interruptTimeoutMs } : {}),
    logger,
    flushOutbox: flush,
    fault,
    ...(env.TENANT_MAX_BYTES > 0 ? { usage: new TenantUsage(redis, env.BATON_PREFIX, env.TENANT_MAX_BYTES) } : {}),
    ...(metrics ? { onTurnEnd: metrics.onTurnEnd } : {}),
  });
  const turnProcessor = turnSlots
    ? withTenantSlot(runTurn, {
        tenantOf: (sessionId) => store.tenantOf(sessionId),
        slots: turnSlots,
        wake: (sessionId, jobId) => queue.wake(sessionId, jobId),
        leaseMs: env.LOCK_DURATION_MS,
        logger,
      })
    : runTurn;
  const turnOptions = {
    lockDuration: env.LOCK_DURATION_MS,
    // Renewed every fifth of the lock (BullMQ's default is half): a turn keeps its lock
    // through an event loop stalled for up to about 4/5 of it, so a short lock (fast
    // recovery from a dead worker) does not take slow but live turns away.
    lockRenewTime: Math.max(50, Math.floor(env.LOCK_DURATION_MS / 5)),
    stalledInterval: env.STALLED_INTERVAL_MS,
    maxStalledCount: env.MAX_STALLED_COUNT,
    autorun: false,
  };
  // WORKER_CONCURRENCY is this process's total, split evenly between its shards.
  const turnWorkers = makeShardWorkers(queue, turnProcessor, { connection: redis, concurrency: env.WORKER_CONCURRENCY, only, options: turnOptions });
  for (const worker of turnWorkers) {
    worker.on('error', (err) => logger.warn({ err: err.message }, 'worker error'));
    worker.on('failed', (job, err) => logger.warn({ sessionId: job?.data?.session_id, turnId: job?.id, err: err.message }, 'turn job failed'));
  }

  // Webhooks: a worker of their own, so slow receivers never hold a turn slot.
  const webhookLockMs = Math.max(env.LOCK_DURATION_MS, env.WEBHOOK_TIMEOUT_MS * 2);
  const webhookProcessor = makeWebhookProcessor({
    log: deliveries,
    schedule,
    secrets: env.WEBHOOK_SECRET,
    timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    lockMs: webhookLockMs,
    allowPrivate: env.WEBHOOK_ALLOW_PRIVATE,
    logger,
    ...(metrics ? { onAttempt: metrics.onAttempt } : {}),
    ...(env.TENANT_MAX_WEBHOOKS_IN_FLIGHT > 0
      ? {
          slots: new TenantSlots(redis, env.BATON_PREFIX, 'webhooks', { max: env.TENANT_MAX_WEBHOOKS_IN_FLIGHT, leaseMs: webhookLockMs }),
          wake: (sessionId: string, jobId: string) => webhookQueue.wake(sessionId, jobId),
        }
      : {}),
    ...(env.WEBHOOK_BREAKER_FAILURES > 0 ? { breakers: makeBreakers(env, redis, webhookLockMs) } : {}),
  });
  const webhookOptions = { lockDuration: webhookLockMs, stalledInterval: env.STALLED_INTERVAL_MS, autorun: false };
  const webhookWorkers = makeShardWorkers(webhookQueue, webhookProcessor, {
    connection: redis,
    concurrency: env.WEBHOOK_CONCURRENCY,
    only,
    options: webhookOptions,
  });
  for (const webhookWorker of webhookWorkers) {
    webhookWorker.on('error', (err) => logger.warn({ err: err.message }, 'webhook worker error'));
    webhookWorker.on('failed', (job, err) => logger.warn({ sessionId: job?.data?.session_id, deliveryId: job?.data?.delivery_id, err: err.message }, 'webhook job failed'));
  }

  // Readiness canaries (`/ready`): a queue and worker of their own, so they are answered
  // even when every turn slot is busy. A short lock: a canary held by a dead worker is freed fast.
  const canaryWorker = new Worker(CANARY_QUEUE, () => recordCanary(redis, env.BATON_PREFIX), {
    connection: redis,
    prefix: queuePrefix(env.BATON_PREFIX),
    concurrency: 1,
    lockDuration: 5_000,
    stalledInterval: 5_000,
    autorun: false,
  });
  canaryWorker.on('error', (err) => logger.warn({ err: err.message }, 'canary worker error'));

  const reaper = env.REAPER
    ? startReaper(
        { store, queue, logger, flushOutbox: flush, graceMs: env.RUNNING_GRACE_MS, ...(interruptTimeoutMs ? { interruptTimeoutMs } : {}) },
        env.REAPER_INTERVAL_MS,
      )
    : null;
  const workers = [...turnWorkers, ...webhookWorkers, canaryWorker];
  for (const w of workers) void w.run();
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  // Jobs left in the unsharded layout (before TURN_QUEUE_SHARDS was raised) still run.
  const drains = only && !only.includes(0)
    ? []
    : [
        drainLegacyQueue(queue, env.BATON_PREFIX, turnProcessor, { connection: redis, logger, options: turnOptions }),
        drainLegacyQueue(webhookQueue, env.BATON_PREFIX, webhookProcessor, { connection: redis, logger, options: webhookOptions }),
      ];
  const metricsServer = metrics && env.METRICS_PORT !== undefined
    ? await serveMetrics(metrics.registry, { port: env.METRICS_PORT, adminKey: env.ADMIN_KEY })
    : null;
  logger.info(
    { concurrency: env.WORKER_CONCURRENCY, shards: { turns: turnWorkers.length, webhooks: webhookWorkers.length }, pid: process.pid, ...(metricsServer ? { metricsPort: portOf(metricsServer) } : {}) },
    'Baton worker ready',
  );

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    const code = 128 + (signal === 'SIGINT' ? 2 : 15);
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(code);
    }
    stopping = true;
    logger.info({ signal, active: active.size, deadlineMs: env.SHUTDOWN_TIMEOUT_MS }, 'shutting down: finishing active turns');
    const deadline = setTimeout(() => {
      const handed = active.abortAll('shutdown');
      logger.warn({ handed }, 'shutdown deadline passed: handing active turns back to the queue');
    }, env.SHUTDOWN_TIMEOUT_MS);
    // If closing hangs (Redis gone, so BullMQ cannot hand jobs back), exit anyway: the
    // stalled-job check gives this worker's jobs to another one.
    setTimeout(() => {
      logger.error('shutdown did not finish in time: exiting');
      process.exit(1);
    }, env.SHUTDOWN_TIMEOUT_MS + 5_000).unref();
    await reaper?.stop();
    await Promise.all([...workers.map((w) => w.close()), ...drains.map((stopDrain) => stopDrain())]);
    metricsServer?.close();
    clearTimeout(deadline);
    await Promise.all([queue.close(), webhookQueue.close()]).catch(() => {});
    redis.disconnect();
    subscriber.disconnect();
    logger.info('worker stopped');
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

function makeBreakers(env: WorkerEnv, redis: ConstructorParameters<typeof EndpointBreakers>[0], probeMs: number): EndpointBreakers {
  return new EndpointBreakers(redis, env.BATON_PREFIX, {
    failures: env.WEBHOOK_BREAKER_FAILURES,
    cooldownMs: env.WEBHOOK_BREAKER_COOLDOWN_MS,
    maxCooldownMs: Math.max(DEFAULT_MAX_COOLDOWN_MS, env.WEBHOOK_BREAKER_COOLDOWN_MS),
    probeMs,
    disableAfterMs: env.WEBHOOK_DISABLE_AFTER_S * 1000,
  });
}

function webhookSchedule(text: string, logTtlS: number): number[] {
  let schedule: number[];
  try {
    schedule = parseSchedule(text);
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  WEBHOOK_SCHEDULE: ${(err as Error).message}`);
  }
  // A delivery's log entry must outlive its retries: its job finds nothing to send once it is gone.
  const longest = Math.max(0, ...schedule);
  if (logTtlS > 0 && logTtlS * 1000 <= longest) {
    throw new ConfigError(`Invalid configuration:\n  WEBHOOK_LOG_TTL_S: must exceed the longest delay of WEBHOOK_SCHEDULE (${longest} ms)`);
  }
  return schedule;
}

main().catch((err) => {
  const message = err instanceof ConfigError ? err.message : (err as Error).stack ?? String(err);
  console.error(`baton-worker: ${message}`);
  process.exit(1);
});
