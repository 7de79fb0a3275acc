import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sessionKeys } from '@baton/core';
import { ROOT, waitUntil } from '@baton/devtools';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

const TURN_TIMEOUT_MS = 1500;

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: any;
  /** Set when the client dropped the connection before an answer was sent. */
  aborted: boolean;
}

/**
 * One real HTTP server on 127.0.0.1 standing in for both upstreams: an
 * OpenAI-compatible `POST /v1/chat/completions` and a user's agent at `POST /agent`.
 * What it does depends on the last message: `fail …` answers 500, `hang …` never
 * answers, anything else gets `<agent> saw <n>: <last content>`.
 */
class FakeUpstreams {
  readonly received: Received[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<FakeUpstreams> {
    const fake: FakeUpstreams = new FakeUpstreams(
      createServer((req, res) => {
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (text += chunk));
        req.on('end', () => {
          const received: Received = { url: req.url ?? '', headers: req.headers, body: JSON.parse(text || 'null'), aborted: false };
          fake.received.push(received);
          res.once('close', () => (received.aborted = !res.writableFinished));
          answer(received, res);
        });
      }),
    );
    fake.server.listen(0, '127.0.0.1');
    await once(fake.server, 'listening');
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Requests whose first message mentions `tag`, in arrival order. */
  requestsFor(tag: string): Received[] {
    return this.received.filter((r) => String(r.body?.messages?.[0]?.content ?? '').includes(tag));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

function answer(req: Received, res: ServerResponse): void {
  const messages: { content: unknown }[] = req.body?.messages ?? [];
  const last = String(messages[messages.length - 1]?.content ?? '');
  const openai = req.url === '/v1/chat/completions';
  if (last.startsWith('hang')) return;
  if (last.startsWith('fail')) {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify(openai ? { error: { message: 'upstream exploded', type: 'server_error' } } : { detail: 'upstream exploded' }));
    return;
  }
  const content = `${openai ? 'openai' : 'http'} saw ${messages.length}: ${last}`;
  const body = openai
    ? {
        id: 'chatcmpl-e2e',
        object: 'chat.completion',
        created: 1_700_000_000,
        model: req.body.model,
        choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }
    : { message: { content } };
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

let fake: FakeUpstreams;
let baton: Baton;
let base: string;

beforeAll(async () => {
  fake = await FakeUpstreams.start();
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: {
      OPENAI_BASE_URL: `${fake.url}/v1`,
      OPENAI_API_KEY: 'sk-e2e',
      OPENAI_MODEL: 'e2e-model',
      HTTP_AGENT_URL: `${fake.url}/agent`,
      HTTP_AGENT_TOKEN: 'tok-e2e',
      // The example module: its agents are known to the API and run on the worker.
      AGENTS_MODULE: 'examples/agents/my-agents.ts',
    },
    workerEnv: { TURN_TIMEOUT_MS: String(TURN_TIMEOUT_MS) },
  });
  base = baton.url;
});
afterAll(async () => {
  await baton?.stop();
  await fake?.close();
});

/** Posts one user message, expects 202, and returns the session once the turn is over. */
async function say(id: string, content: string): Promise<any> {
  const accepted = await http(base, 'POST', `/sessions/${id}/messages`, { content });
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  return waitForIdle(base, id);
}

async function messages(id: string): Promise<unknown[]> {
  const res = await http(base, 'GET', `/sessions/${id}/messages`);
  expect(res.status).toBe(200);
  return res.body;
}

it('a session created without `agent` uses the server default, echo', async () => {
  const id = await createSession(base);
  expect((await http(base, 'GET', `/sessions/${id}`)).body.agent).toBe('echo');
  const done = await say(id, `plain ${id}`);
  expect(done).toMatchObject({ status: 'idle', response: { role: 'assistant', content: `echo: plain ${id}` }, error: null });
  expect(fake.requestsFor(id)).toEqual([]);
});

describe.each([
  { agent: 'openai', path: '/v1/chat/completions', failure: /^Agent failed: OpenAI-compatible endpoint failed \(HTTP 500\): .*upstream exploded/ },
  { agent: 'http', path: '/agent', failure: /^Agent failed: HTTP agent answered 500: .*upstream exploded/ },
])('agent "$agent"', ({ agent, path, failure }) => {
  it('records the upstream reply and sends it the whole history on every turn', async () => {
    const id = await createSession(base, { agent });
    expect((await http(base, 'GET', `/sessions/${id}`)).body.agent).toBe(agent);

    const first = await say(id, `first ${id}`);
    expect(first).toMatchObject({ status: 'idle', error: null, response: { role: 'assistant', content: `${agent} saw 1: first ${id}` } });
    const second = await say(id, 'second');
    expect(second).toMatchObject({ status: 'idle', error: null, response: { role: 'assistant', content: `${agent} saw 3: second` } });

    const history = [
      { role: 'user', content: `first ${id}` },
      { role: 'assistant', content: `${agent} saw 1: first ${id}` },
      { role: 'user', content: 'second' },
      { role: 'assistant', content: `${agent} saw 3: second` },
    ];
    expect(await messages(id)).toEqual(history);

    const requests = fake.requestsFor(id);
    expect(requests.map((r) => r.url)).toEqual([path, path]);
    expect(requests[0]?.body.messages).toEqual(history.slice(0, 1));
    expect(requests[1]?.body.messages).toEqual(history.slice(0, 3));
    if (agent === 'openai') {
      expect(requests.map((r) => r.body.model)).toEqual(['e2e-model', 'e2e-model']);
      expect(requests.map((r) => r.headers.authorization)).toEqual(['Bearer sk-e2e', 'Bearer sk-e2e']);
    } else {
      expect(requests.map((r) => r.body.session_id)).toEqual([id, id]);
      expect(requests[0]?.body.turn_id).toEqual(expect.any(String));
      expect(requests[1]?.body.turn_id).not.toBe(requests[0]?.body.turn_id);
      expect(requests.map((r) => r.headers.authorization)).toEqual(['Bearer tok-e2e', 'Bearer tok-e2e']);
    }
  });

  it('an upstream HTTP 500 leaves the session in error with a clear message; the next message succeeds', async () => {
    const id = await createSession(base, { agent });
    const failed = await say(id, `fail ${id}`);
    expect(failed).toMatchObject({ status: 'error', response: null });
    expect(failed.error).toMatch(failure);
    // Baton does not retry a turn whose agent failed: the upstream saw one request.
    expect(fake.requestsFor(id)).toHaveLength(1);

    const recovered = await say(id, 'again');
    expect(recovered).toMatchObject({ status: 'idle', error: null, response: { content: `${agent} saw 2: again` } });
    // The failed turn keeps its user message but has no reply.
    expect(await messages(id)).toEqual([
      { role: 'user', content: `fail ${id}` },
      { role: 'user', content: 'again' },
      { role: 'assistant', content: `${agent} saw 2: again` },
    ]);
  });

  it('POST /cancel drops the upstream request: the session is idle with error "Turn cancelled"', async () => {
    const id = await createSession(base, { agent });
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: `hang ${id}` })).status).toBe(202);
    await waitUntil(() => fake.requestsFor(id).length === 1, { timeoutMs: 5_000, what: 'the upstream request' });
    expect((await http(base, 'POST', `/sessions/${id}/cancel`)).status).toBe(202);
    const [hung] = fake.requestsFor(id);
    await waitUntil(() => hung?.aborted, { timeoutMs: 5_000, what: 'the worker to close the cancelled upstream request' });
    expect(await waitForIdle(base, id)).toMatchObject({ status: 'idle', error: 'Turn cancelled', response: null });
  });

  it('if_busy "interrupt" drops the upstream request and runs the new message', async () => {
    const id = await createSession(base, { agent });
    expect((await http(base, 'POST', `/sessions/${id}/messages`, { content: `hang ${id}` })).status).toBe(202);
    await waitUntil(() => fake.requestsFor(id).length === 1, { timeoutMs: 5_000, what: 'the upstream request' });
    const interrupt = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'instead', if_busy: 'interrupt' });
    expect(interrupt.status).toBe(202);
    const [hung] = fake.requestsFor(id);
    await waitUntil(() => hung?.aborted, { timeoutMs: 5_000, what: 'the worker to close the interrupted upstream request' });
    const done = await waitUntil(
      async () => {
        const view = await waitForIdle(base, id);
        return view.response && view;
      },
      { timeoutMs: 10_000, what: 'the interrupting message to be answered' },
    );
    expect(done).toMatchObject({ status: 'idle', error: null, response: { content: `${agent} saw 2: instead` } });
  });

  it('a turn over TURN_TIMEOUT_MS ends in error "timed out", drops the upstream request, and the next message succeeds', async () => {
    const id = await createSession(base, { agent });
    const started = Date.now();
    const timedOut = await say(id, `hang ${id}`);
    expect(timedOut).toMatchObject({ status: 'error', response: null });
    expect(timedOut.error).toContain('timed out');
    expect(timedOut.error).toBe(`Turn timed out after ${TURN_TIMEOUT_MS / 1000}s`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(TURN_TIMEOUT_MS - 100);

    const [hung] = fake.requestsFor(id);
    expect(hung).toBeDefined();
    await waitUntil(() => hung?.aborted, { timeoutMs: 5_000, what: 'the worker to close the timed-out upstream request' });

    const recovered = await say(id, 'after the timeout');
    expect(recovered).toMatchObject({ status: 'idle', error: null, response: { content: `${agent} saw 2: after the timeout` } });
  });
});

describe('agents module (AGENTS_MODULE) and per-session settings', () => {
  const KNOWN = 'the agents are echo, openai, http, assistant, math-tutor';

  it('POST and PUT /sessions with an unknown agent: 422 naming body.agent and listing the known agents', async () => {
    for (const [method, path] of [['POST', '/sessions'], ['PUT', `/sessions/${crypto.randomUUID()}`]] as const) {
      const res = await http(base, method, path, { agent: 'gpt-9' });
      expect(res.status, method).toBe(422);
      expect(res.body.error).toMatchObject({ code: 'validation_failed', details: [{ path: 'body.agent', message: `unknown agent "gpt-9"; ${KNOWN}` }] });
    }
  });

  it("a config the agent does not accept: 422 naming body.config.<field>; nothing is created", async () => {
    const cases: [unknown, string][] = [
      [{ agent: 'assistant', config: { temperature: 5 } }, 'body.config.temperature'],
      [{ agent: 'assistant', config: { precision: 99 } }, 'body.config.precision'],
      [{ agent: 'assistant', config: { colour: 'red' } }, 'body.config.colour'],
      [{ agent: 'openai', config: { max_steps: 0 } }, 'body.config.max_steps'],
      [{ agent: 'echo', config: { model: 'gpt-4o' } }, 'body.config.model'],
      [{ config: 'fast' }, 'body.config'],
    ];
    const before = (await http(base, 'GET', '/sessions?limit=200')).body.length;
    for (const [body, field] of cases) {
      const res = await http(base, 'POST', '/sessions', body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details[0].path, JSON.stringify(body)).toBe(field);
    }
    expect((await http(base, 'GET', '/sessions?limit=200')).body.length).toBe(before);
  });

  it('a module agent with a valid config: 201, the config stored with the session, and its turn runs on the worker', async () => {
    const config = { model: 'tutor-model', temperature: 0.5, max_steps: 7 };
    const id = await createSession(base, { agent: 'math-tutor', config });
    expect((await http(base, 'GET', `/sessions/${id}`)).body.agent).toBe('math-tutor');
    expect(JSON.parse((await baton.redis.hget(sessionKeys(baton.prefix, id).meta, 'config')) ?? 'null')).toEqual(config);

    const done = await say(id, `tutor ${id}`);
    // The fake model saw the agent's system prompt and the user message (2 messages).
    expect(done).toMatchObject({ status: 'idle', error: null, response: { role: 'assistant', content: `openai saw 2: tutor ${id}` } });
    const [request] = fake.received.filter((r) => r.body?.messages?.some((m: { content?: unknown }) => m.content === `tutor ${id}`));
    expect(request?.body.messages[0]).toEqual({ role: 'system', content: expect.stringContaining('You teach arithmetic') });
    expect(request?.body.tools.map((t: { function: { name: string } }) => t.function.name)).toEqual(['calculator']);
  });

  it('a module that reuses a built-in name, or an AGENT that names no agent, stops the API and the worker at start with a clear error', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(ROOT, 'test', '.tmp-modules-'));
    try {
      const file = join(dir, 'clash.ts');
      await writeFile(file, "import { defineAgent } from '@baton/agents';\nexport default [defineAgent({ name: 'echo' })];\n");
      const env = { REDIS_URL: inject('redisUrl'), BATON_PREFIX: baton.prefix };
      const failure = async (kind: 'api' | 'worker', extra: Record<string, string>) => {
        const child = spawn(process.execPath, ['--import', 'tsx', `apps/${kind}/src/main.ts`], {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', ...env, ...extra },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.on('data', (d) => (output += d));
        child.stderr.on('data', (d) => (output += d));
        const [code] = await once(child, 'close');
        return `exited with ${code}: ${output}`;
      };
      // Started together: each process loads for a few seconds on a busy machine.
      const [api, worker, unknown] = await Promise.all([
        failure('api', { AGENTS_MODULE: file }),
        failure('worker', { AGENTS_MODULE: file }),
        failure('api', { AGENT: 'ghost' }),
      ]);
      for (const message of [api, worker]) {
        expect(message).toMatch(/^exited with 1: /);
        expect(message).toContain(`AGENTS_MODULE: ${file}: agent "echo" has the name of a built-in agent (echo, openai, http); rename it`);
      }
      expect(unknown).toMatch(/^exited with 1: /);
      expect(unknown).toContain('AGENT: unknown agent "ghost"; the agents are echo, openai, http');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
