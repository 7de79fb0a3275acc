import { Worker } from 'bullmq';
import { pino } from 'pino';
import { ConfigError, WorkerEnv, makeFaultHook, parseEnv, queuePrefix } from '@baton/core';
import { agentsConfigFromEnv, makeAgentRegistry } from '@baton/agents';
import { TURN_QUEUE, TurnQueue } from '@baton/queue';
import { SessionStore, makeWorkerConnection, waitForReady } from '@baton/store';
import { ActiveTurns } from './active-turns.ts';
import { makeTurnProcessor } from './processors/turn-run.ts';
import { startReaper } from './reaper.ts';

async function main(): Promise<void> {
  const env = parseEnv(WorkerEnv, process.env);
  const logger = pino({ name: 'baton-worker', level: env.LOG_LEVEL });

  const redis = makeWorkerConnection(env.REDIS_URL, 'baton-worker');
  const subscriber = makeWorkerConnection(env.REDIS_URL, 'baton-worker-sub');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  subscriber.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
  await Promise.all([waitForReady(redis, env.REDIS_URL), waitForReady(subscriber, env.REDIS_URL)]);

  const store = new SessionStore(redis, { prefix: env.BATON_PREFIX, runningGraceMs: env.RUNNING_GRACE_MS });
  const queue = new TurnQueue(redis, env.BATON_PREFIX);
  const active = new ActiveTurns();
  const agentFor = makeAgentRegistry(agentsConfigFromEnv(env));

  // Cancels (DELETE of a running session) reach whichever worker runs the turn.
  await subscriber.subscribe(store.keys.cancel);
  subscriber.on('message', (_channel: string, key: string) => {
    if (active.cancel(key)) logger.info({ sessionId: key.split('\n')[0] }, 'turn cancelled');
  });

  const worker = new Worker(
    TURN_QUEUE,
    makeTurnProcessor({ store, queue, agentFor, active, turnTimeoutMs: env.TURN_TIMEOUT_MS, logger, fault: makeFaultHook(env.BATON_FAULT) }),
    {
      connection: redis,
      prefix: queuePrefix(env.BATON_PREFIX),
      concurrency: env.WORKER_CONCURRENCY,
      lockDuration: env.LOCK_DURATION_MS,
      stalledInterval: env.STALLED_INTERVAL_MS,
      maxStalledCount: env.MAX_STALLED_COUNT,
      autorun: false,
    },
  );
  worker.on('error', (err) => logger.warn({ err: err.message }, 'worker error'));
  worker.on('failed', (job, err) => logger.warn({ turnId: job?.id, err: err.message }, 'turn job failed'));
  const reaper = env.REAPER
    ? startReaper({ store, queue, logger, graceMs: env.RUNNING_GRACE_MS }, env.REAPER_INTERVAL_MS)
    : null;
  void worker.run();
  await worker.waitUntilReady();
  logger.info({ concurrency: env.WORKER_CONCURRENCY, pid: process.pid }, 'Baton worker ready');

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
    await reaper?.stop();
    await worker.close();
    clearTimeout(deadline);
    await queue.close().catch(() => {});
    redis.disconnect();
    subscriber.disconnect();
    logger.info('worker stopped');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  const message = err instanceof ConfigError ? err.message : (err as Error).stack ?? String(err);
  console.error(`baton-worker: ${message}`);
  process.exit(1);
});
