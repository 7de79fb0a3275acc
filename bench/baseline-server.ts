/**
 * The submission baseline: a bare Express 5 route that adds one BullMQ job and answers
 * 202, on the same Redis as Baton. What Baton's POST adds on top of this is its cost.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';

const connection = new Redis(process.env.REDIS_URL ?? '', { maxRetriesPerRequest: null });
const queue = new Queue('baseline', { connection, prefix: '{bench-baseline}' });
const app = express();
app.use(express.json());
app.post('/sessions/:id/messages', async (req, res) => {
  const jobId = randomUUID();
  await queue.add('turn.run', { session_id: req.params.id, turn_id: jobId }, { jobId, removeOnComplete: true });
  res.status(202).location(`/sessions/${req.params.id}`).json({ session_id: req.params.id, status: 'running' });
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
await once(server, 'listening');
console.log(`baseline listening on ${(server.address() as AddressInfo).port}`);
