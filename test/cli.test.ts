import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BatonClient, BatonError } from '@baton/client';
import { ROOT, freePort, waitUntil } from '@baton/devtools';
import { Baton } from './support/baton.ts';
import { HeldAgent } from './support/held-agent.ts';

/** The `baton` CLI (the workspace bin, through tsx) against a real Baton with API keys on. */

const KEY = 'key-cli-e2e';
const BIN = 'node_modules/.bin/baton';
let baton: Baton;
let agent: HeldAgent;
let client: BatonClient;

beforeAll(async () => {
  agent = await HeldAgent.start();
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { API_KEYS: KEY, HTTP_AGENT_URL: agent.url },
    // The echo agent streams its reply word by word over this time (delta events).
    workerEnv: { ECHO_DELAY_MS: '400' },
  });
  client = new BatonClient({ baseUrl: baton.url, apiKey: KEY });
});
afterAll(async () => {
  await baton?.stop();
  await agent?.close();
});

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

interface Cli {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  /** The exit code, once the process has exited and its output has all been read ('close', not 'exit'). */
  exited: Promise<number | null>;
}

/** Starts `baton <args>` with BATON_URL and BATON_API_KEY of this Baton unless `env` overrides them. */
function start(args: string[], env: Record<string, string> = {}): Cli {
  const child = spawn(BIN, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', BATON_URL: baton.url, BATON_API_KEY: KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const cli: Cli = { child, stdout: '', stderr: '', exited: once(child, 'close').then(([code]) => code as number | null) };
  child.stdout?.on('data', (d) => (cli.stdout += d));
  child.stderr?.on('data', (d) => (cli.stderr += d));
  return cli;
}

async function baton_(args: string[], env?: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = start(args, env);
  const code = await cli.exited;
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}

describe('baton send', () => {
  it('send new <text> --wait streams the echo reply as it is written; exit 0', async () => {
    const cli = start(['send', 'new', 'hello', 'from', 'the', 'cli', '--wait']);
    // The first words are out before the turn has ended.
    await waitUntil(() => /^echo:[^\n]*$/.test(cli.stdout), { what: 'a partly streamed reply', timeoutMs: 15_000 });
    expect(await cli.exited).toBe(0);
    expect(cli.stdout).toBe('echo: hello from the cli\n');
    expect(cli.stderr).toMatch(new RegExp(`session ${UUID.source}, turn `));
  });

  it('send <session> <text> without --wait prints the session id; the turn runs', async () => {
    const { session_id: id } = await client.createSession();
    const res = await baton_(['send', id, 'no wait']);
    expect(res).toMatchObject({ code: 0, stdout: `${id}\n` });
    expect(res.stderr).toMatch(/^turn \S+ accepted\n$/);
    expect((await client.waitForTurn(id, { timeoutS: 20 })).response?.content).toBe('echo: no wait');
  });

  it('shows progress on stderr while the turn runs, then prints the reply', async () => {
    const { session_id: id } = await client.createSession({ agent: 'http' });
    const cli = start(['send', id, 'take your time', '--wait']);
    await waitUntil(() => agent.held.size === 1 && /, turn \S+\n\./.test(cli.stderr), { what: 'a progress dot', timeoutMs: 15_000 });
    agent.release('done at last');
    expect(await cli.exited).toBe(0);
    expect(cli.stdout).toBe('done at last\n');
  });

  it('a failed turn exits 1 with its error', async () => {
    const { session_id: id } = await client.createSession({ agent: 'http' });
    const cli = start(['send', id, 'doomed', '--wait']);
    await waitUntil(() => agent.held.size === 1, { what: 'the turn to reach the agent' });
    await client.cancel(id);
    expect(await cli.exited).toBe(1);
    expect(cli.stderr).toContain('baton: the turn failed: Turn cancelled');
    expect(cli.stdout).toBe('');
  });
});

// Independent of each other: run at once (each spawns the CLI).
describe.concurrent('baton sessions', () => {
  it('prints a table with each session, its status and message count', async ({ expect }) => {
    const { session_id: id } = await client.createSession({ state: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] });
    const res = await baton_(['sessions', '--limit', '200']);
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SESSION\s+STATUS\s+MESSAGES$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${id}  idle\\s+2$`)));
  });

  it('prints the next page command when there is more', async ({ expect }) => {
    await client.createSession();
    await client.createSession();
    const res = await baton_(['sessions', '-n', '1']);
    expect(res.code).toBe(0);
    expect(res.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(res.stderr).toMatch(/^more: baton sessions --limit 1 --cursor \S+\n$/);
  });
});

describe('baton tail', () => {
  it('streams the reply as it is written, long-polls with --poll; Ctrl-C and a deleted session both exit 0', async () => {
    const { session_id: id } = await client.createSession();
    const [streaming, polling] = [start(['tail', id]), start(['tail', id, '--poll'])];
    await waitUntil(() => streaming.stderr.includes(`following session ${id} (stream)`), { what: 'tail to stream', timeoutMs: 15_000 });
    await waitUntil(() => polling.stderr.includes(`following session ${id} (long-poll; idle)`), { what: 'tail --poll', timeoutMs: 15_000 });

    await client.sendMessage(id, 'tail me');
    // The streaming tail prints the reply's first words before the turn has ended.
    await waitUntil(() => /^user: tail me\nassistant: echo:[^\n]*$/.test(streaming.stdout), { what: 'a partly streamed reply' });
    const expected = 'user: tail me\nassistant: echo: tail me\n';
    await waitUntil(() => streaming.stdout === expected && polling.stdout === expected, { what: 'both tails to print the turn', timeoutMs: 15_000 });
    expect(streaming.stderr).toContain('[running]\n');

    polling.child.kill('SIGINT');
    expect(await polling.exited).toBe(0);
    await client.deleteSession(id);
    expect(await streaming.exited).toBe(0);
    expect(streaming.stderr).toContain(`session ${id} was deleted`);
  });
});

describe.concurrent('failures', () => {
  it('404: exit 1 with the API message and code', async ({ expect }) => {
    const id = randomUUID();
    const res = await baton_(['send', id, 'anyone?']);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`baton: Session "${id}" not found (404 session_not_found).\n`);
  });

  it('connection refused: exit 1 naming the URL and BATON_URL', async ({ expect }) => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const res = await baton_(['sessions'], { BATON_URL: url });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`baton: Could not reach Baton at ${url}: ECONNREFUSED. Is Baton running? Set BATON_URL`);
  });

  it('401 without a key: exit 1 with a hint', async ({ expect }) => {
    const res = await baton_(['sessions'], { BATON_API_KEY: '' });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/\(401 unauthorized\)\. Set BATON_API_KEY\.\n$/);
  });

  it('bad usage: exit 2 with the usage text', async ({ expect }) => {
    const cases = [['frobnicate'], ['send', 'new'], ['sessions', '--limit', 'many'], ['tail', 'a', '--bogus']];
    const results = await Promise.all(cases.map((args) => baton_(args)));
    results.forEach((res, i) => {
      expect(res.code, cases[i]!.join(' ')).toBe(2);
      expect(res.stderr).toContain('Usage: baton <command>');
    });
  });
});

describe('baton tail: earlier messages first', () => {
  it('prints the last -n messages (default 10) before following; -n 0 none', async () => {
    const state = Array.from({ length: 12 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `m${i}` }) as const);
    const { session_id: id } = await client.createSession({ state });
    const [byDefault, three, none] = [start(['tail', id]), start(['tail', id, '-n', '3', '--poll']), start(['tail', id, '-n', '0'])];
    const lines = (from: number) => state.slice(from).map((m) => `${m.role}: ${m.content}\n`).join('');
    await waitUntil(() => byDefault.stdout === lines(2) && three.stdout === lines(9), { what: 'the earlier messages', timeoutMs: 15_000 });
    await waitUntil(() => none.stderr.includes('following session'), { what: 'tail -n 0 to follow', timeoutMs: 15_000 });
    expect(none.stdout).toBe('');

    await client.sendMessage(id, 'and then');
    const after = 'user: and then\nassistant: echo: and then\n';
    await waitUntil(() => byDefault.stdout === lines(2) + after && three.stdout === lines(9) + after && none.stdout === after, {
      what: 'the new turn after the earlier messages',
      timeoutMs: 15_000,
    });
    for (const cli of [byDefault, three, none]) cli.child.kill('SIGINT');
    expect(await Promise.all([byDefault, three, none].map((cli) => cli.exited))).toEqual([0, 0, 0]);
  });
});

// One after another: each spawns the CLI two or three times, and the machine's two cores are shared.
describe('baton show, history, cancel, delete', () => {
  it('history prints every message, oldest first (--json: as the API answers)', async ({ expect }) => {
    const calls = [{ id: 'c1', type: 'function', function: { name: 'clock', arguments: '{}' } }] as const;
    const state = [
      { role: 'user', content: 'what time is it?' },
      { role: 'assistant', content: null, tool_calls: [...calls] },
      { role: 'tool', content: '12:00', tool_call_id: 'c1' },
      { role: 'assistant', content: 'noon' },
    ] as const;
    const { session_id: id } = await client.createSession({ state: state.map((m) => ({ ...m })) as never });
    const res = await baton_(['history', id]);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout.split('\n')).toEqual([
      'user: what time is it?',
      `assistant: ${JSON.stringify(state[1])}`,
      'tool: 12:00',
      'assistant: noon',
      '',
    ]);
    const json = await baton_(['history', id, '--json']);
    expect(JSON.parse(json.stdout)).toEqual(await client.messages(id));
    const empty = await baton_(['history', (await client.createSession()).session_id]);
    expect(empty).toMatchObject({ code: 0, stdout: '', stderr: 'no messages\n' });
  });

  it('show prints the status, agent, counts and last reply (--json: the session)', async ({ expect }) => {
    const { session_id: id } = await client.createSession();
    await client.sendMessage(id, 'show me');
    await client.waitForTurn(id, { timeoutS: 20 });
    const res = await baton_(['show', id]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^session\\s+${id}\nstatus\\s+idle\nagent\\s+echo\nmessages\\s+2\npending\\s+0\n`));
    expect(res.stdout).toContain('response  assistant: echo: show me\n');
    const json = await baton_(['show', id, '--json']);
    expect(JSON.parse(json.stdout)).toEqual(await client.getSession(id));
  });

  it('cancel stops the running turn and prints its id; with nothing running it says so', async ({ expect }) => {
    const { session_id: id } = await client.createSession({ agent: 'http' });
    const { turn_id } = await client.sendMessage(id, 'cancel me');
    // The only test of this group that uses the held agent.
    await waitUntil(() => agent.held.size === 1, { what: 'the turn to reach the agent' });
    const res = await baton_(['cancel', id]);
    expect(res).toMatchObject({ code: 0, stdout: `cancelled turn ${turn_id}\n` });
    expect(await client.waitForTurn(id, { timeoutS: 20 })).toMatchObject({ status: 'idle', error: 'Turn cancelled' });
    expect(await baton_(['cancel', id])).toMatchObject({ code: 0, stdout: '', stderr: `no turn was running in session ${id}\n` });
  });

  it('delete removes the session; again, 404 and exit 1', async ({ expect }) => {
    const { session_id: id } = await client.createSession();
    expect(await baton_(['delete', id])).toMatchObject({ code: 0, stdout: '', stderr: `deleted session ${id}\n` });
    expect((await client.getSession(id).catch((err) => err)).code).toBe('session_not_found');
    expect(await baton_(['delete', id])).toMatchObject({ code: 1, stderr: `baton: Session "${id}" not found (404 session_not_found).\n` });
  });

  it('bad usage of the new commands: exit 2', async ({ expect }) => {
    // resume's value rules are unit-tested (apps/cli/src/commands/resume.test.ts).
    const cases = [['history', 'a', 'b'], ['resume', 'a', 'i', 'not json'], ['tail', 'a', '-n', 'x']];
    const results = await Promise.all(cases.map((args) => baton_(args)));
    results.forEach((res, i) => {
      expect(res.code, cases[i]!.join(' ')).toBe(2);
      expect(res.stderr).toContain('Usage: baton <command>');
    });
  });
});

/** Whether this Baton serves `POST /sessions/{id}/resume` (the human-in-the-loop issue adds it). */
async function serverResumes(): Promise<boolean> {
  const { session_id: id } = await client.createSession();
  const err = await client.resume(id, { interruptId: 'probe', value: null }).catch((e: BatonError) => e);
  return !(err instanceof BatonError && err.code === 'route_not_found');
}

describe('baton resume', () => {
  it('409 session_not_interrupted on a session that is not waiting; 404 interrupt_not_found for an unknown interrupt', async (ctx) => {
    if (!(await serverResumes())) ctx.skip('this server has no POST /sessions/{id}/resume yet');
    const { session_id: id } = await client.createSession();
    const idle = await baton_(['resume', id, 'i-1', '--approve']);
    expect(idle.code).toBe(1);
    expect(idle.stderr).toMatch(/\(409 session_not_interrupted\)\.\n$/);

    const { session_id: waiting } = await client.createSession();
    await client.sendMessage(waiting, { content: 'ask', user_params: { echo: { interrupt: { type: 'user_input', payload: { question: 'name?' } } } } });
    expect((await client.waitForTurn(waiting, { timeoutS: 20 })).status).toBe('interrupted');
    const unknown = await baton_(['resume', waiting, 'no-such-interrupt', '"Ada"']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/\(404 interrupt_not_found\)\.\n$/);
  });

  it('answers an interrupt: show lists it, --approve / a JSON value continues the turn', async (ctx) => {
    if (!(await serverResumes())) ctx.skip('this server has no POST /sessions/{id}/resume yet');
    const { session_id: id } = await client.createSession();
    const interrupt = { type: 'tool_approval', payload: { tool: 'refund', amount: 30 } };
    await client.sendMessage(id, { content: 'refund me', user_params: { echo: { interrupt } } });
    const waiting = await client.waitForTurn(id, { timeoutS: 20 });
    expect(waiting.status).toBe('interrupted');
    const interruptId = waiting.interrupts![0]!.interrupt_id;
    const shown = await baton_(['show', id]);
    expect(shown.stdout).toContain(`interrupt ${interruptId} (tool_approval): {"tool":"refund","amount":30}\n`);
    expect(shown.stdout).toContain(`answer: baton resume ${id} ${interruptId} --approve | --deny [reason]\n`);

    const res = await baton_(['resume', id, interruptId, '--approve']);
    expect(res.code).toBe(0);
    const done = await client.waitForTurn(id, { timeoutS: 20 });
    expect(done).toMatchObject({ status: 'idle', response: { content: 'echo: refund me {"approved":true}' } });
  });
});
