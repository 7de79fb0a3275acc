import { afterEach, describe, expect, inject, it } from 'vitest';
import { Baton, FAST_RECOVERY, createSession, http, waitForIdle } from './support/baton.ts';

let baton: Baton | undefined;
afterEach(async () => {
  await baton?.stop();
  baton = undefined;
});

const start = async (workerEnv: Record<string, string> = {}, workers = 1) => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), workers, env: FAST_RECOVERY, workerEnv });
  return baton;
};

async function send(base: string, id: string, content: string) {
  const res = await http(base, 'POST', `/sessions/${id}/messages`, { content });
  expect(res.status).toBe(202);
}

describe('cancel', () => {
  it('DELETE during a turn answers 204, aborts the agent and frees the worker slot', async () => {
    const b = await start({ ECHO_DELAY_MS: '30000', WORKER_CONCURRENCY: '1' });
    const worker = b.workers[0]!;
    const doomed = await createSession(b.url);
    await send(b.url, doomed, 'long');
    await worker.waitForLog(/turn claimed/);

    expect((await http(b.url, 'DELETE', `/sessions/${doomed}`)).status).toBe(204);
    await worker.waitForLog(/turn cancelled/);
    expect((await http(b.url, 'GET', `/sessions/${doomed}`)).status).toBe(404);

    // The only slot is free again: a turn of another session completes... eventually,
    // after its own 30 s delay, so check it was claimed instead.
    const next = await createSession(b.url);
    const from = worker.output.length;
    await send(b.url, next, 'next');
    await worker.waitForLog(new RegExp(`"sessionId":"${next}".*turn claimed`), 5_000, from);
  });
});

describe('shutdown', () => {
  it('SIGTERM: stops taking jobs, finishes the active turn, exits 0', async () => {
    const b = await start({ ECHO_DELAY_MS: '1000', SHUTDOWN_TIMEOUT_MS: '20000' });
    const worker = b.workers[0]!;
    const id = await createSession(b.url);
    await send(b.url, id, 'finish me');
    await worker.waitForLog(/turn claimed/);
    worker.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    const view = (await http(b.url, 'GET', `/sessions/${id}`)).body;
    expect(view).toMatchObject({ status: 'idle', response: { content: 'echo: finish me' } });
  });

  it('SIGTERM past the deadline hands the turn back; another worker runs it once', async () => {
    const b = await start({ ECHO_DELAY_MS: '30000', SHUTDOWN_TIMEOUT_MS: '300' });
    const worker = b.workers[0]!;
    const id = await createSession(b.url);
    await send(b.url, id, 'hand me back');
    await worker.waitForLog(/turn claimed/);
    worker.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(worker.output).toMatch(/handed back/);

    await b.startWorker({ ECHO_DELAY_MS: '10' });
    const view = await waitForIdle(b.url, id, 20);
    expect(view).toMatchObject({ status: 'idle', response: { content: 'echo: hand me back' } });
    const history = (await http(b.url, 'GET', `/sessions/${id}/messages`)).body;
    expect(history.map((m: { content: string }) => m.content)).toEqual(['hand me back', 'echo: hand me back']);
  });

  it('a second signal forces exit with 128+signal', async () => {
    const b = await start({ ECHO_DELAY_MS: '30000', SHUTDOWN_TIMEOUT_MS: '60000' });
    const worker = b.workers[0]!;
    const id = await createSession(b.url);
    await send(b.url, id, 'stuck');
    await worker.waitForLog(/turn claimed/);
    worker.kill('SIGTERM');
    await worker.waitForLog(/shutting down/);
    worker.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 143, signal: null });
  });
});
