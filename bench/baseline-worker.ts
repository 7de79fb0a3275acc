/**
 * The end-to-end baseline: a bare BullMQ worker draining JOBS no-op jobs that the
 * bench added beforehand. Prints the drain time (first job start to last completion).
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const total = Number(process.env.JOBS);
const connection = new Redis(process.env.REDIS_URL ?? '', { maxRetriesPerRequest: null });
let done = 0;
let first = 0;
const worker = new Worker(
  'baseline-e2e',
  async () => {
    if (!first) first = performance.now();
    return 'ok';
  },
  { connection, prefix: '{bench-baseline}', concurrency: Number(process.env.CONCURRENCY ?? 16) },
);
worker.on('completed', () => {
  if (++done === total) {
    console.log(`drained ${total} ${(performance.now() - first).toFixed(1)}`);
    void worker.close().then(() => process.exit(0));
  }
});
