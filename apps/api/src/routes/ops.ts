import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { Express, RequestHandler } from 'express';
import { ADMIN_CHALLENGE, AppError, adminKeyCheck } from '@baton/core';
import type { CanaryQueue } from '@baton/queue';
import { type ApiMetrics, QUEUE_STATES } from '../metrics.ts';

export const BOARD_PATH = '/admin/queues';

export interface OpsDeps {
  /** `/ready`: a worker answered a canary recently. */
  canary: CanaryQueue;
  /** `/metrics` (Prometheus text). */
  metrics: ApiMetrics;
  /** `ADMIN_KEY`: Bull Board needs it (without it the board is not served); `/metrics` needs it when set. */
  adminKey?: string | undefined;
  /** The queues Bull Board shows; read-only unless `ADMIN_BOARD_READONLY=false`. */
  board: { queues: Queue[]; readOnly: boolean };
}

/** The operator's routes: readiness, Prometheus metrics and Bull Board. */
export function mountOps(app: Express, deps: OpsDeps): void {
  app.get('/ready', async (_req, res) => {
    const [result, queues] = await Promise.all([deps.canary.check(), queueDepth(deps.metrics)]);
    if (result.ready) {
      res.json({ status: 'ready', worker_seen_ms_ago: result.ageMs, queues });
      return;
    }
    res
      .status(503)
      .set('retry-after', '1')
      .json({ status: 'not_ready', reason: result.reason, message: result.message, worker_seen_ms_ago: result.ageMs, queues });
  });

  const admin = deps.adminKey ? requireAdmin(deps.adminKey) : null;
  const metrics: RequestHandler = async (_req, res) => {
    const text = await deps.metrics.registry.metrics();
    res.set('content-type', deps.metrics.registry.contentType).send(text);
  };
  if (admin) app.get('/metrics', admin, metrics);
  else app.get('/metrics', metrics);

  if (admin) app.use(BOARD_PATH, admin, boardApp(deps.board));
}

/**
 * Jobs per queue and state (`{turns: {waiting, active, failed, delayed}, webhooks: {…}}`), the
 * same counts as `baton_queue_jobs` (cached 2 s, so probes cost no more reads); null while
 * Redis does not answer.
 */
async function queueDepth(metrics: ApiMetrics): Promise<Record<string, Record<string, number>> | null> {
  try {
    const counts = await metrics.queueCounts.get();
    return Object.fromEntries(
      Object.entries(counts).map(([queue, byState]) => [queue, Object.fromEntries(QUEUE_STATES.map((state) => [state, byState[state] ?? 0]))]),
    );
  } catch {
    return null;
  }
}

export class AdminUnauthorizedError extends AppError {
  constructor() {
    super(401, 'unauthorized', 'The admin key is required (Authorization: Bearer <ADMIN_KEY>, or Basic auth with it as password)', {
      headers: { 'www-authenticate': ADMIN_CHALLENGE },
    });
  }
}

export function requireAdmin(adminKey: string): RequestHandler {
  const check = adminKeyCheck(adminKey);
  return (req, _res, next) => next(check(req.get('authorization')) ? undefined : new AdminUnauthorizedError());
}

/** Bull Board's own Express app (Express 5 is what `@bull-board/express` 9 is built on). */
function boardApp(board: OpsDeps['board']): Express {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(BOARD_PATH);
  createBullBoard({
    // Shards share their queue's name: each is listed under its hash tag (`{baton:t3}:turns`).
    queues: board.queues.map(
      (queue) =>
        new BullMQAdapter(queue, {
          readOnlyMode: board.readOnly,
          ...(board.queues.filter((q) => q.name === queue.name).length > 1 ? { prefix: `${queue.opts.prefix}:` } : {}),
        }),
    ),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'Baton queues' } },
  });
  const app = adapter.getRouter() as Express;
  app.disable('x-powered-by');
  return app;
}
