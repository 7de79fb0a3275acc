import type { JobType } from 'bullmq';
import type { Request } from 'express';
import type { Logger } from 'pino';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Anything that counts its jobs by state: a BullMQ queue, or a sharded one (summed over its shards). */
export interface CountsJobs {
  getJobCounts(...states: JobType[]): Promise<Record<string, number>>;
}

/** Queue states reported by `baton_queue_jobs`. */
export const QUEUE_STATES = ['waiting', 'active', 'failed', 'delayed'] as const;

/** Seconds; long-polls wait up to LONG_POLL_MAX_S (300 s by default). */
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The API's Prometheus metrics: request latency by method, route template and status,
 * the BullMQ queues' job counts (read from Redis when scraped, at most once per
 * `cacheMs`, so many scrapers cost one read), and Node's process metrics.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly http: Histogram<'method' | 'route' | 'status'>;
  /** The queues' job counts (also in `/ready`'s body), read at most once per `cacheMs`. */
  readonly queueCounts: QueueCounts;

  constructor(queues: Record<string, CountsJobs>, logger: Logger, cacheMs = 2000) {
    collectDefaultMetrics({ register: this.registry });
    this.http = new Histogram({
      name: 'baton_http_request_duration_seconds',
      help: 'HTTP request latency, by method, route template and status (499: the client left first)',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers: [this.registry],
    });
    const counts = new QueueCounts(queues, cacheMs);
    this.queueCounts = counts;
    const gauge: Gauge<'queue' | 'state'> = new Gauge({
      name: 'baton_queue_jobs',
      help: `Jobs in each queue (summed over its shards), by state (read when scraped, cached ${cacheMs} ms; the same in every API process)`,
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      collect: async () => {
        gauge.reset();
        try {
          for (const [queue, byState] of Object.entries(await counts.get())) {
            for (const state of QUEUE_STATES) gauge.set({ queue, state }, byState[state] ?? 0);
          }
        } catch (err) {
          // Redis is away: the scrape still answers, without queue samples.
          logger.debug({ err: (err as Error).message }, 'queue counts unavailable for /metrics');
        }
      },
    });
  }

  observe = (req: Request, route: string, status: number, seconds: number): void => {
    this.http.observe({ method: req.method, route, status: String(status) }, seconds);
  };
}

/** The queues' job counts, read at most once per `cacheMs` (concurrent scrapes share one read). */
export class QueueCounts {
  private cached: { at: number; value: Promise<Record<string, Record<string, number>>> } | null = null;

  constructor(
    private readonly queues: Record<string, CountsJobs>,
    private readonly cacheMs: number,
  ) {}

  get(now = Date.now()): Promise<Record<string, Record<string, number>>> {
    if (this.cached && now - this.cached.at < this.cacheMs) return this.cached.value;
    const value = this.read();
    this.cached = { at: now, value };
    // A failed read is not cached: the next scrape tries again.
    value.catch(() => {
      if (this.cached?.value === value) this.cached = null;
    });
    return value;
  }

  private async read(): Promise<Record<string, Record<string, number>>> {
    const entries = await Promise.all(
      Object.entries(this.queues).map(async ([name, queue]) => [name, await queue.getJobCounts(...QUEUE_STATES)] as const),
    );
    return Object.fromEntries(entries);
  }
}
