import { type Processor, Queue, Worker, type WorkerOptions } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { queuePrefix, splitConcurrency } from '@baton/core';
import type { ShardedQueue } from '@baton/queue';

export interface ShardWorkersOptions {
  connection: Redis | Cluster;
  /** This process's total concurrency for the queue, split evenly between its shards. */
  concurrency: number;
  /** The shards to consume (WORKER_SHARDS); unset: all. Numbers past the queue's shards are ignored. */
  only?: number[] | undefined;
  /** The rest of the BullMQ worker options (locks, stalled checks...). */
  options: Omit<WorkerOptions, 'connection' | 'prefix' | 'concurrency'>;
}

/**
 * One BullMQ Worker per consumed shard of `queue`. A BullMQ Worker consumes one queue, and
 * its concurrency is its own: the process total is split evenly between the shards
 * (`splitConcurrency`), so a shard with more work than its share waits for its own slots
 * even when another shard's are idle (sessions hash evenly; give a worker fewer shards
 * with WORKER_SHARDS, or a WORKER_CONCURRENCY that is a multiple of them).
 */
export function makeShardWorkers(queue: ShardedQueue, processor: Processor, opts: ShardWorkersOptions): Worker[] {
  const shards = queue.shards.map((_, i) => i).filter((i) => !opts.only || opts.only.includes(i));
  const shares = splitConcurrency(opts.concurrency, shards.length);
  return shards.map(
    (shard, i) =>
      new Worker(queue.name, processor, {
        ...opts.options,
        connection: opts.connection,
        prefix: queue.shards[shard]!.opts.prefix as string,
        concurrency: shares[i]!,
      }),
  );
}

/** The states in which a job still has to run. */
const PENDING = ['wait', 'active', 'delayed', 'prioritized', 'paused', 'waiting-children'] as const;

/**
 * After a change from one queue (`{prefix}`, the unsharded layout) to shards, the jobs
 * still in the old queue must run: while it holds any, a worker consumes it too (one
 * job at a time), and closes that worker once it is empty. Checks every `intervalMs`.
 * Returns a stop function.
 */
export function drainLegacyQueue(
  queue: ShardedQueue,
  prefix: string,
  processor: Processor,
  opts: Omit<ShardWorkersOptions, 'concurrency' | 'only'> & { logger: Logger; intervalMs?: number },
): () => Promise<void> {
  if (queue.shards.length === 1) return async () => {};
  // Only looks: writes no meta key into the old layout.
  const legacy = new Queue(queue.name, { connection: opts.connection, prefix: queuePrefix(prefix), skipMetasUpdate: true });
  let worker: Worker | null = null;
  let stopped = false;
  let pass: Promise<void> = Promise.resolve();
  const check = async () => {
    const counts = await legacy.getJobCounts(...PENDING);
    const pending = Object.values(counts).reduce((a, b) => a + b, 0);
    if (pending > 0 && !worker && !stopped) {
      opts.logger.warn({ queue: queue.name, pending }, 'jobs left in the unsharded queue: consuming them too until it is empty');
      worker = new Worker(queue.name, processor, { ...opts.options, connection: opts.connection, prefix: queuePrefix(prefix), concurrency: 1, autorun: true });
      worker.on('error', (err) => opts.logger.warn({ err: err.message }, 'legacy queue worker error'));
    } else if (pending === 0 && worker) {
      const done = worker;
      worker = null;
      await done.close();
      opts.logger.info({ queue: queue.name }, 'unsharded queue drained');
    }
  };
  const run = () => {
    pass = pass.then(check).catch((err) => opts.logger.warn({ err: (err as Error).message }, 'legacy queue check failed; will retry'));
  };
  run();
  const timer = setInterval(run, opts.intervalMs ?? 10_000);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await pass;
    await (worker as Worker | null)?.close();
    await legacy.close();
  };
}
