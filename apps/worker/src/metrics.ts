import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ADMIN_CHALLENGE, adminKeyCheck } from '@baton/core';
import type { TurnEnd } from './processors/turn-run.ts';
import type { AttemptOutcome } from './webhooks/deliver.ts';

const TURN_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const ATTEMPT_OUTCOMES: AttemptOutcome[] = ['delivered', 'retry', 'failed', 'dead'];

/**
 * A worker process's Prometheus metrics: how long its turns take, by agent and outcome,
 * and its webhook attempts by outcome. The processors report through their `onTurnEnd`
 * and `onAttempt` hooks; each worker serves its own `/metrics` (`METRICS_PORT`).
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly turns: Histogram<'agent' | 'outcome'>;
  private readonly attempts: Counter<'outcome'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.turns = new Histogram({
      name: 'baton_turn_duration_seconds',
      help: 'Turns run by this worker, from claim to recorded result, by agent and outcome',
      labelNames: ['agent', 'outcome'],
      buckets: TURN_BUCKETS,
      registers: [this.registry],
    });
    this.attempts = new Counter({
      name: 'baton_webhook_attempts_total',
      help: 'Webhook delivery attempts made by this worker, by outcome (retry: another attempt is scheduled)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    // Every outcome exists from the start (at 0), so rate() and alerts see it.
    for (const outcome of ATTEMPT_OUTCOMES) this.attempts.inc({ outcome }, 0);
  }

  onTurnEnd = (turn: TurnEnd): void => {
    this.turns.observe({ agent: turn.agent, outcome: turn.outcome }, turn.durationMs / 1000);
  };

  onAttempt = (outcome: AttemptOutcome): void => {
    this.attempts.inc({ outcome });
  };
}

/**
 * A tiny HTTP server answering `GET /metrics` with the registry (404 otherwise);
 * when `adminKey` is set, only with it (Bearer, or Basic with the key as password).
 */
export async function serveMetrics(registry: Registry, options: { port: number; host?: string; adminKey?: string | undefined }): Promise<Server> {
  const authorized = options.adminKey ? adminKeyCheck(options.adminKey) : () => true;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: try GET /metrics\n');
      return;
    }
    if (!authorized(req.headers.authorization)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': ADMIN_CHALLENGE }).end('The admin key is required\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  server.listen(options.port, options.host ?? '0.0.0.0');
  await once(server, 'listening');
  return server;
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}
