import http from 'node:http';

export interface LoadRequest {
  method: string;
  path: string;
  body?: unknown;
}

export interface LoadResult {
  requests: number;
  elapsedMs: number;
  /** Latency of every request, ms. */
  latencies: number[];
  statuses: Record<number, number>;
  errors: number;
}

/**
 * A small closed-loop load generator: `connections` keep-alive connections, each
 * sending its next request as soon as the previous answers, until `total` requests
 * have been sent (or `durationMs` has passed).
 */
export async function runLoad(options: {
  baseUrl: string;
  connections: number;
  total?: number;
  durationMs?: number;
  /** The i-th request overall, sent on connection `conn`. */
  next: (i: number, conn: number) => LoadRequest;
  /** Called with each response; may start follow-up work (e.g. a long-poll) whose time counts. */
  after?: (req: LoadRequest, status: number, body: string) => Promise<void>;
}): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const url = new URL(options.baseUrl);
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let errors = 0;
  let issued = 0;
  const started = performance.now();
  const deadline = options.durationMs ? started + options.durationMs : Infinity;
  const total = options.total ?? Infinity;

  const loop = async (conn: number) => {
    while (issued < total && performance.now() < deadline) {
      const req = options.next(issued++, conn);
      const t0 = performance.now();
      try {
        const { status, body } = await send(agent, url, req);
        if (options.after) await options.after(req, status, body);
        latencies.push(performance.now() - t0);
        statuses[status] = (statuses[status] ?? 0) + 1;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, (_, conn) => loop(conn)));
  const elapsedMs = performance.now() - started;
  agent.destroy();
  return { requests: latencies.length, elapsedMs, latencies, statuses, errors };
}

export function send(agent: http.Agent, base: URL, req: LoadRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    const r = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: req.method,
        path: req.path,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(payload);
  });
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export function summary(result: LoadResult) {
  return {
    requests: result.requests,
    errors: result.errors,
    statuses: result.statuses,
    seconds: round(result.elapsedMs / 1000),
    per_second: round(result.requests / (result.elapsedMs / 1000)),
    p50_ms: round(percentile(result.latencies, 50)),
    p99_ms: round(percentile(result.latencies, 99)),
  };
}

export const round = (n: number, digits = 2) => Number(n.toFixed(digits));

/** Several rounds of one load as one result (their requests, times and latencies added up). */
export function mergeLoads(results: LoadResult[]): LoadResult {
  const statuses: Record<number, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.statuses)) statuses[Number(k)] = (statuses[Number(k)] ?? 0) + v;
  return {
    requests: results.reduce((n, r) => n + r.requests, 0),
    elapsedMs: results.reduce((n, r) => n + r.elapsedMs, 0),
    latencies: results.flatMap((r) => r.latencies),
    statuses,
    errors: results.reduce((n, r) => n + r.errors, 0),
  };
}
