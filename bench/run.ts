/**
 * `npm run bench`: Baton against bare BullMQ baselines, on one private Redis, in one run.
 * Writes bench/results/latest.json and latest.md. Loopback only; about two minutes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BatonProcess, ROOT, RedisServer, freePort, waitUntil } from '@baton/devtools';
import { SessionStore } from '@baton/store';
import { durabilityPhase } from './durability.ts';
import { storageMarkdown, storagePhase } from './storage.ts';
import { type LoadResult, mergeLoads, percentile, round, runLoad, send, summary } from './load.ts';
import { reaperBench } from './reaper.ts';
import { type LayoutResult, shardSpread } from './shards.ts';
import { historyPhase } from './history.ts';

const SUBMIT_REQUESTS = Number(process.env.BENCH_SUBMIT_REQUESTS ?? 20_000);
const E2E_TURNS = Number(process.env.BENCH_E2E_TURNS ?? 5_000);
const SLOW_SESSIONS = 2_000;
const SLOW_ROUNDS = Number(process.env.BENCH_SLOW_ROUNDS ?? 3);
const CONNECTIONS = 50;
const WORKER_CONCURRENCY = 50;
const AGENT_DELAY_MS = 200;
const QUIET = { LOG_LEVEL: 'info', LOG_REQUESTS: 'false', ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}) };

/**
 * `BENCH_PHASES=a,b` runs only those parts (d needs c for its RSS figures; e: durability modes,
 * Redis servers of its own; f: multi-step turns; r: the reaper; h: turns on long histories; s: queue
 * shards on a 3-master Redis Cluster of its own, bench/shards.ts, which also writes bench/results/shards.json;
 * m: Redis bytes per turn with and without a webhook, bench/storage.ts).
 */
const PHASES = new Set((process.env.BENCH_PHASES ?? 'a,b,c,d,e,f,r,h,s,m').split(','));
const STEP_TURNS = Number(process.env.BENCH_STEP_TURNS ?? 2_000);
/** `BENCH_REAPER_SESSIONS`: the active-session counts of phase r, beside its 100-session baseline. */
const REAPER_SESSIONS = (process.env.BENCH_REAPER_SESSIONS ?? '100,10000,100000').split(',').map(Number);
const log = (...args: unknown[]) => console.log('bench:', ...args);

async function main() {
  const redis = await RedisServer.start();
  const client = new Redis(redis.url);
  const children: ChildProcess[] = [];
  const batons: BatonProcess[] = [];
  const stopAll = async () => {
    await Promise.all(batons.splice(0).map((b) => b.stop()));
    for (const c of children.splice(0)) c.kill('SIGKILL');
  };
  try {
    const report: Record<string, unknown> = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, redis: await redisVersion(client) },
    };

    // (a) Submission: POST /sessions/{id}/messages at 50 connections, Baton vs a bare queue.add route.
    const prefix = 'bench';
    const store = new SessionStore(client, { prefix, runningGraceMs: 10_000 });
    if (PHASES.has('a')) {
    log('(a) submission');
    const baseline = await startScript('bench/baseline-server.ts', { REDIS_URL: redis.url }, /baseline listening on (\d+)/);
    children.push(baseline.child);
    const api = await BatonProcess.start('api', { REDIS_URL: redis.url, BATON_PREFIX: prefix, ...QUIET });
    batons.push(api);
    const ids = await createSessions(store, SUBMIT_REQUESTS * 2 + 4_000);
    let next = 0;
    const batonRequest = () => ({ method: 'POST', path: `/sessions/${ids[next++]}/messages`, body: { content: 'hello' } });
    const baselineRequest = () => ({ method: 'POST', path: `/sessions/${randomUUID()}/messages`, body: { content: 'hello' } });
    const submit = (url: string, make: () => ReturnType<typeof batonRequest>, total: number) =>
      runLoad({ baseUrl: url, connections: CONNECTIONS, total, next: make });
    // Warm both up (JIT, connections), then alternate rounds so drift hits both alike.
    await submit(baseline.url, baselineRequest, 2_000);
    await submit(api.url, batonRequest, 2_000);
    const before = await commandCount(client);
    const batonRounds: LoadResult[] = [];
    const baseRounds: LoadResult[] = [];
    let batonCommands = 0;
    // CPU seconds spent per side: the HTTP process and Redis (the load generator is shared).
    const cpu = { baton: { http: 0, redis: 0 }, baseline: { http: 0, redis: 0 } };
    const measure = async (side: 'baton' | 'baseline', pid: number, run: () => Promise<LoadResult>) => {
      const [p0, r0] = [processCpu(pid), await redisCpu(client)];
      const result = await run();
      cpu[side].http += processCpu(pid) - p0;
      cpu[side].redis += (await redisCpu(client)) - r0;
      return result;
    };
    for (let round = 0; round < 2; round++) {
      baseRounds.push(await measure('baseline', baseline.child.pid as number, () => submit(baseline.url, baselineRequest, SUBMIT_REQUESTS / 2)));
      const c0 = await commandCount(client);
      batonRounds.push(await measure('baton', api.child.pid as number, () => submit(api.url, batonRequest, SUBMIT_REQUESTS / 2)));
      batonCommands += (await commandCount(client)) - c0 - 1;
    }
    void before;
    const perRequestUs = (seconds: number, n: number) => round((seconds * 1e6) / n, 0);
    const a = { baton: summary(mergeLoads(batonRounds)), baseline: summary(mergeLoads(baseRounds)) };
    report.submission = {
      connections: CONNECTIONS,
      ...a,
      throughput_ratio: round(a.baton.per_second / a.baseline.per_second),
      p99_ratio: round(a.baton.p99_ms / a.baseline.p99_ms),
      redis_commands_per_post: round(batonCommands / a.baton.requests),
      cpu_us_per_request: {
        baton: { api: perRequestUs(cpu.baton.http, a.baton.requests), redis: perRequestUs(cpu.baton.redis, a.baton.requests) },
        baseline: { server: perRequestUs(cpu.baseline.http, a.baseline.requests), redis: perRequestUs(cpu.baseline.redis, a.baseline.requests) },
      },
    };
    log(report.submission);
    await stopAll();
    }

    // (b) End to end, echo agent: POST then long-poll until the reply is visible.
    if (PHASES.has('b')) {
    log('(b) end to end');
    await client.flushall();
    const e2eApi = await BatonProcess.start('api', { REDIS_URL: redis.url, BATON_PREFIX: prefix, ...QUIET });
    const e2eWorker = await BatonProcess.start('worker', {
      REDIS_URL: redis.url,
      BATON_PREFIX: prefix,
      WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
      REAPER_INTERVAL_MS: '2000',
      ...QUIET,
    });
    batons.push(e2eApi, e2eWorker);
    const e2eIds = await createSessions(store, E2E_TURNS);
    const c1 = await commandCount(client);
    // CPU per turn of each party: the API, the worker, Redis and this process (the load generator).
    const cpu0 = { api: processCpu(e2eApi.child.pid as number), worker: processCpu(e2eWorker.child.pid as number), redis: await redisCpu(client), bench: process.cpuUsage() };
    const e2e = await endToEnd(e2eApi.url, e2eIds, CONNECTIONS);
    const e2eCommands = (await commandCount(client)) - c1 - 1;
    const benchCpu = process.cpuUsage(cpu0.bench);
    const perTurnUs = (seconds: number) => round((seconds * 1e6) / e2e.requests, 0);
    const e2eCpu = {
      api: perTurnUs(processCpu(e2eApi.child.pid as number) - cpu0.api),
      worker: perTurnUs(processCpu(e2eWorker.child.pid as number) - cpu0.worker),
      redis: perTurnUs((await redisCpu(client)) - cpu0.redis),
      load_generator: perTurnUs((benchCpu.user + benchCpu.system) / 1e6),
    };
    await stopAll();
    const bull = await bullBaseline(redis.url, E2E_TURNS, WORKER_CONCURRENCY);
    report.end_to_end = {
      connections: CONNECTIONS,
      worker_concurrency: WORKER_CONCURRENCY,
      baton: summary(e2e),
      bullmq_noop_jobs_per_second: round(bull),
      throughput_ratio: round(e2e.requests / (e2e.elapsedMs / 1000) / bull),
      redis_commands_per_turn: round(e2eCommands / e2e.requests),
      cpu_us_per_turn: e2eCpu,
    };
    log(report.end_to_end);
    }

    // (c) Slow agent: 200 ms echo, 2,000 concurrent sessions, 2 worker processes.
    if (PHASES.has('c')) {
    log('(c) slow agent');
    await client.flushall();
    const slowEnv = {
      REDIS_URL: redis.url,
      BATON_PREFIX: prefix,
      ECHO_DELAY_MS: String(AGENT_DELAY_MS),
      WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
      ...QUIET,
    };
    const slowApi = await BatonProcess.start('api', slowEnv);
    const slowWorkers = [await BatonProcess.start('worker', slowEnv), await BatonProcess.start('worker', slowEnv)];
    batons.push(slowApi, ...slowWorkers);
    const slowIds = await createSessions(store, SLOW_SESSIONS);
    const slow = await endToEnd(slowApi.url, slowIds, SLOW_SESSIONS, SLOW_ROUNDS);
    const ideal = (2 * WORKER_CONCURRENCY) / (AGENT_DELAY_MS / 1000);
    const achieved = slow.requests / (slow.elapsedMs / 1000);
    report.slow_agent = {
      sessions: SLOW_SESSIONS,
      turns: slow.requests,
      workers: 2,
      worker_concurrency: WORKER_CONCURRENCY,
      agent_delay_ms: AGENT_DELAY_MS,
      turns_per_second: round(achieved),
      ideal_turns_per_second: ideal,
      ratio_to_ideal: round(achieved / ideal),
      p50_ms: round(percentile(slow.latencies, 50)),
      p99_ms: round(percentile(slow.latencies, 99)),
      errors: slow.errors,
    };
    log(report.slow_agent);

    // (d) Memory: process RSS after (c); Redis bytes per idle session and per message.
    log('(d) memory');
    const rss = { api_mb: rssMb(slowApi), worker_mb: slowWorkers.map(rssMb) };
    await stopAll();
    await client.flushall();
    report.memory = { ...rss, ...(await redisFootprint(client)) };
    log(report.memory);
    }

    // (e) Durability modes: POST /messages under appendfsync everysec, always, and WAIT for one replica.
    if (PHASES.has('e')) {
      log('(e) durability modes');
      report.durability = await durabilityPhase(CONNECTIONS, QUIET);
      log(JSON.stringify(report.durability, null, 2));
    }

    // (f) Multi-step turns: a 5-step echo turn (4 clock tool steps, then the reply) beside a 1-step one.
    if (PHASES.has('f')) {
      log('(f) steps');
      await client.flushall();
      const env = { REDIS_URL: redis.url, BATON_PREFIX: prefix, WORKER_CONCURRENCY: String(WORKER_CONCURRENCY), ...QUIET };
      const api = await BatonProcess.start('api', env);
      const worker = await BatonProcess.start('worker', env);
      batons.push(api, worker);
      const measure = async (toolSteps: number) => {
        const ids = await createSessions(store, STEP_TURNS);
        const body = { content: 'hello', user_params: { echo: { tool_steps: toolSteps } } };
        const c0 = await commandCount(client);
        const cpu0 = { worker: processCpu(worker.child.pid as number), redis: await redisCpu(client) };
        const result = await endToEnd(api.url, ids, CONNECTIONS, 1, body);
        const perTurnUs = (seconds: number) => round((seconds * 1e6) / result.requests, 0);
        return {
          steps: toolSteps + 1,
          turns: result.requests,
          turns_per_second: round(result.requests / (result.elapsedMs / 1000)),
          p50_ms: round(percentile(result.latencies, 50)),
          redis_commands_per_turn: round(((await commandCount(client)) - c0 - 1) / result.requests),
          cpu_us_per_turn: {
            worker: perTurnUs(processCpu(worker.child.pid as number) - cpu0.worker),
            redis: perTurnUs((await redisCpu(client)) - cpu0.redis),
          },
          errors: result.errors,
        };
      };
      await measure(0); // warm-up (JIT, connections)
      const one = await measure(0);
      const five = await measure(4);
      const perStep = (a: number, b: number) => round((b - a) / 4, 1);
      report.steps = {
        one_step: one,
        five_steps: five,
        per_extra_step: {
          redis_commands: perStep(one.redis_commands_per_turn, five.redis_commands_per_turn),
          worker_cpu_us: perStep(one.cpu_us_per_turn.worker, five.cpu_us_per_turn.worker),
          redis_cpu_us: perStep(one.cpu_us_per_turn.redis, five.cpu_us_per_turn.redis),
        },
        round_trips_per_extra_step: 1,
      };
      log(report.steps);
      await stopAll();
    }

    // (r) The reaper with many active sessions (simulated with index entries), beside 100.
    if (PHASES.has('r')) {
      log('(r) reaper');
      report.reaper = await reaperBench(redis.url, REAPER_SESSIONS);
      log(report.reaper);
    }

    // (h) Turns on long histories: 1, 100 and 10,000 messages of ~1 KB (the first is the baseline).
    if (PHASES.has('h')) {
      log('(h) history');
      await client.flushall();
      const env = { REDIS_URL: redis.url, BATON_PREFIX: prefix, WORKER_CONCURRENCY: '4', MAX_MESSAGES_PER_SESSION: '100000', ...QUIET };
      const api = await BatonProcess.start('api', env);
      const worker = await BatonProcess.start('worker', env);
      batons.push(api, worker);
      const claimLua = readFileSync(join(ROOT, 'packages', 'store', 'src', 'lua', 'claim.lua'), 'utf8');
      report.history = await historyPhase(
        { client, store, apiUrl: api.url, workerCpu: () => processCpu(worker.child.pid as number), redisCpu: () => redisCpu(client) },
        { claimLua },
      );
      log(JSON.stringify(report.history, null, 2));
      await stopAll();
    }

    // (m) Storage: Redis bytes per turn after 5,000 turns, with and without an include_messages webhook.
    if (PHASES.has('m')) {
      log('(m) storage per turn');
      report.storage = await storagePhase(QUIET);
      log(JSON.stringify(report.storage, null, 2));
    }

    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    // (s) Queue traffic per master of a Redis Cluster: unsharded vs sharded queues.
    if (PHASES.has('s')) {
      log('(s) queue shards on a 3-master Redis Cluster');
      report.queue_shards = await shardSpread(QUIET, log);
      writeFileSync(join(dir, 'shards.json'), `${JSON.stringify({ date: report.date, machine: report.machine, ...report.queue_shards as object }, null, 2)}\n`);
    }

    report.round_trips = ROUND_TRIPS;
    if (!['a', 'b', 'c', 'd'].every((p) => PHASES.has(p))) return void log('partial run: no report written');
    writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(dir, 'latest.md'), markdown(report));
    log(`report written to bench/results/latest.{json,md}`);
  } finally {
    await stopAll();
    client.disconnect();
    await redis.dispose();
  }
}

/** Round trips per turn, by design (see packages/store and apps/worker); the bench counts commands. */
const ROUND_TRIPS = {
  api_per_post: 2,
  api_note: 'the submit script (it writes the reaper\'s running-index entry too; on a cluster that is a call of its own just before), then one BullMQ add',
  worker_per_turn: 5,
  worker_note: 'claim script, finish script, the script that takes the session out of the running index (the enqueue instead, when a queued message follows), BullMQ fetch-next (moveToFinished also fetches the next job); +1 when a webhook follows',
};

async function createSessions(store: SessionStore, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(ids.slice(i, i + 500).map((sessionId) => store.create({ sessionId, agent: 'echo', tenant: '', state: [] })));
  }
  return ids;
}

/** Each connection sends to its own sessions: POST, then long-poll until the turn is over. */
async function endToEnd(url: string, ids: string[], connections: number, rounds = 1, body: unknown = { content: 'hello' }): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections * 2 });
  const base = new URL(url);
  const perConnection = Math.ceil(ids.length / connections);
  const cursor = new Array<number>(connections).fill(0);
  const result = await runLoad({
    baseUrl: url,
    connections,
    total: ids.length * rounds,
    next: (_i, conn) => {
      const k = (cursor[conn] = (cursor[conn] ?? 0) + 1) - 1;
      const slot = k % perConnection;
      return { method: 'POST', path: `/sessions/${ids[conn * perConnection + slot] ?? ids[conn]}/messages`, body };
    },
    after: async (req, status) => {
      if (status !== 202) throw new Error(`POST answered ${status}`);
      const id = req.path.split('/')[2];
      for (;;) {
        const res = await send(agent, base, { method: 'GET', path: `/sessions/${id}?wait=true&timeout=30` });
        if (!res.body.includes('"status":"running"')) return;
      }
    },
  });
  agent.destroy();
  return result;
}

async function bullBaseline(redisUrl: string, jobs: number, concurrency: number): Promise<number> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('baseline-e2e', { connection, prefix: '{bench-baseline}' });
  for (let i = 0; i < jobs; i += 1000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1000, jobs - i) }, () => ({ name: 'noop', data: { session_id: randomUUID() }, opts: { removeOnComplete: true } })),
    );
  }
  const run = await startScript('bench/baseline-worker.ts', { REDIS_URL: redisUrl, JOBS: String(jobs), CONCURRENCY: String(concurrency) }, /drained \d+ ([\d.]+)/);
  await queue.close();
  connection.disconnect();
  run.child.kill();
  return jobs / (Number(run.match) / 1000);
}

async function redisFootprint(client: Redis) {
  const store = new SessionStore(client, { prefix: 'mem', runningGraceMs: 10_000 });
  const used = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
  const m0 = await used();
  const ids = await createSessions(store, 10_000);
  const m1 = await used();
  const some = ids.slice(0, 1_000);
  for (let i = 0; i < 10; i++) {
    await Promise.all(some.map((id) => store.append(id, { role: 'user', content: 'Hello, how are you today?' })));
  }
  const m2 = await used();
  return {
    redis_bytes_per_idle_session: round((m1 - m0) / ids.length, 0),
    redis_bytes_per_message: round((m2 - m1) / (some.length * 10), 0),
    message_used: 'a 25-character user message',
  };
}

function rssMb(proc: BatonProcess): number {
  const status = readFileSync(`/proc/${proc.child.pid}/status`, 'utf8');
  return round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024, 1);
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function processCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

async function redisCpu(client: Redis): Promise<number> {
  const info = await client.info('cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
}

async function commandCount(client: Redis): Promise<number> {
  return Number(/total_commands_processed:(\d+)/.exec(await client.info('stats'))?.[1]);
}

async function redisVersion(client: Redis): Promise<string> {
  return /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? '?';
}

async function startScript(script: string, env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; url: string; match: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = once(child, 'exit').then(([code]) => {
    if (!ready.test(output)) throw new Error(`${script} exited (${code}):\n${output}`);
  });
  await Promise.race([waitUntil(() => ready.test(output), { timeoutMs: 600_000, what: `${script}: ${ready}` }), exited]);
  return { child, url: `http://127.0.0.1:${port}`, match: ready.exec(output)?.[1] ?? '' };
}

function markdown(r: any): string {
  const a = r.submission;
  const b = r.end_to_end;
  const c = r.slow_agent;
  const d = r.memory;
  const pass = (ok: boolean) => (ok ? 'met' : '**missed**');
  return `# Baton benchmark — ${r.date}

Machine: ${r.machine.cpus} × ${r.machine.cpu}, Node ${r.machine.node}, Redis ${r.machine.redis}. Load generator,
Redis and every process share these cores: compare ratios, not absolute numbers.

| Measure | Baton | Baseline | Ratio | Target |
|---|---|---|---|---|
| (a) POST /messages, ${a.connections} connections: requests/s | ${a.baton.per_second} | ${a.baseline.per_second} (Express + \`queue.add\`) | ${a.throughput_ratio}× | ≥ 0.8× — ${pass(a.throughput_ratio >= 0.8)} |
| (a) p50 / p99 latency (ms) | ${a.baton.p50_ms} / ${a.baton.p99_ms} | ${a.baseline.p50_ms} / ${a.baseline.p99_ms} | p99 ${a.p99_ratio}× | p99 ≤ 1.5× — ${pass(a.p99_ratio <= 1.5)} |
| (b) End to end, echo agent: turns/s | ${b.baton.per_second} | ${b.bullmq_noop_jobs_per_second} (bare BullMQ worker, no-op jobs) | ${b.throughput_ratio}× | ≥ 0.5× — ${pass(b.throughput_ratio >= 0.5)} |
| (b) POST → result visible, p50 / p99 (ms) | ${b.baton.p50_ms} / ${b.baton.p99_ms} | | | |
| (c) 200 ms agent, ${c.sessions} sessions, 2 workers × ${c.worker_concurrency}: turns/s | ${c.turns_per_second} | ideal ${c.ideal_turns_per_second} | ${c.ratio_to_ideal}× | ≥ 0.8× — ${pass(c.ratio_to_ideal >= 0.8)} |
| (d) Redis bytes per idle session | ${d.redis_bytes_per_idle_session} | | | ≤ 1 KB — ${pass(d.redis_bytes_per_idle_session <= 1024)} |
| (d) Redis bytes per history message (${d.message_used}) | ${d.redis_bytes_per_message} | | | |
| (d) RSS after (c): API / workers (MB) | ${d.api_mb} / ${d.worker_mb.join(', ')} | | | |
${[reaperRows(r.reaper), shardRow(r.queue_shards?.layouts)].filter(Boolean).join('\n')}

CPU per POST (µs): Baton API ${a.cpu_us_per_request.baton.api} + Redis ${a.cpu_us_per_request.baton.redis}; baseline server
${a.cpu_us_per_request.baseline.server} + Redis ${a.cpu_us_per_request.baseline.redis}.

CPU per turn end to end (µs): API ${b.cpu_us_per_turn.api} (the POST and the long-poll), worker ${b.cpu_us_per_turn.worker}, Redis ${b.cpu_us_per_turn.redis},
load generator ${b.cpu_us_per_turn.load_generator}. For scale: (a)'s baseline route, which only adds a job, answered ${a.baseline.per_second} POSTs/s,
${round(a.baseline.per_second / b.bullmq_noop_jobs_per_second)}× the bare worker's drain rate: turns that each start with an HTTP POST to one API process stay under
0.5× of it on this machine even if the rest of the turn cost nothing.

Redis commands: ${a.redis_commands_per_post} per accepted POST (API), ${b.redis_commands_per_turn} per turn end to end (API + worker,
long-polls included). Round trips by design: API ${r.round_trips.api_per_post} per POST (${r.round_trips.api_note});
worker ${r.round_trips.worker_per_turn} per turn (${r.round_trips.worker_note}).

Errors: (a) ${a.baton.errors}, (b) ${b.baton.errors}, (c) ${c.errors}. Produced by \`npm run bench\`.
${r.durability ? durabilityMarkdown(r.durability) : ''}${r.steps ? stepsMarkdown(r.steps) : ''}${r.history ? historyMarkdown(r.history) : ''}${r.storage ? storageMarkdown(r.storage) : ''}`;
}

/** (e): one row per durability mode, each on a Redis of its own with AOF on. */
function durabilityMarkdown(e: any): string {
  const row = (name: string, m: any) =>
    `| ${name} | ${m.per_second} | ${m.p50_ms} / ${m.p99_ms} | ${m.throughput_vs_everysec}× | ${m.accepted} of ${m.requests} |`;
  return `
(e) Durability modes: POST /messages, ${e.connections} connections, ${e.requests_per_mode} requests each, one API process, AOF on.

| Mode | requests/s | p50 / p99 (ms) | vs default | 202s |
|---|---|---|---|---|
${row('`appendfsync everysec` (default)', e.modes.everysec)}
${row('`appendfsync always`', e.modes.always)}
${row('`everysec` + `REDIS_WAIT_REPLICAS=1`, one replica', e.modes.wait1)}
`;
}

/** (s): commands per master, sharded (16) beside unsharded (1), on a 3-master cluster. */
function shardRow(layouts: LayoutResult[] | undefined): string {
  const [one, many] = layouts ?? [];
  if (!one || !many) return '';
  const layout = (l: LayoutResult) => `${l.max_over_min} (${l.shards === 1 ? '1 queue' : `${l.shards} shards`}: ${l.commands_per_master.join(' / ')}; ${l.seconds} s)`;
  return `| (s) Redis Cluster, 3 masters, ${many.turns} turns: commands per master, max/min | ${layout(many)} | ${layout(one)} | | ≤ 2 — ${many.max_over_min <= 2 ? 'met' : '**missed**'} |`;
}

/** (h): the same turn on histories of 1, 100 and 10,000 messages, and OpenHands event pages beside the whole read. */
function historyMarkdown(h: any): string {
  const row = (x: any) =>
    `| ${x.messages}${x === h.rows[0] ? ' (baseline)' : ''} | ${x.claim_script_redis_us} | ${x.whole_history_lrange_us} | ${x.redis_us_per_turn} | ${x.cpu_us_per_turn.worker} / ${x.cpu_us_per_turn.redis} | ${x.first_turn_ms} |`;
  const oh = h.openhands_events;
  const ohRows = oh
    ? `

OpenHands event search and count on a ${oh.messages}-message history (${oh.page_limit}-event pages), beside the same request with the time index hidden (the whole read):

| Request | By range: Redis µs / ms | Whole read: Redis µs / ms | Redis time ratio |
|---|---|---|---|
${oh.rows.map((x: any) => `| ${x.request} | ${x.by_range.redis_us} / ${x.by_range.ms} | ${x.whole_read.redis_us} / ${x.whole_read.ms} | ${x.redis_time_ratio}× |`).join('\n')}`
    : '';
  return `
(h) Turns on long histories (${h.message_bytes}-byte messages, ${h.turns_per_size} warm turns each; the 1-message session is the baseline):

| Messages | Claim script, Redis µs | Whole-history \`LRANGE 0 -1\`, µs | Redis µs per turn | CPU µs per turn: worker / Redis | First turn (ms) |
|---|---|---|---|---|---|
${h.rows.map(row).join('\n')}${ohRows}
`;
}

/** (f): a 5-step echo turn beside a 1-step one, and what each extra step costs. */
function stepsMarkdown(e: any): string {
  const row = (t: any) =>
    `| ${t.steps} | ${t.turns_per_second} | ${t.p50_ms} | ${t.redis_commands_per_turn} | ${t.cpu_us_per_turn.worker} | ${t.cpu_us_per_turn.redis} |`;
  return `
(f) Multi-step turns, echo agent end to end (POST, then long-poll), one worker:

| Steps per turn | Turns/s | p50 (ms) | Redis commands per turn | Worker CPU per turn (µs) | Redis CPU per turn (µs) |
|---|---|---|---|---|---|
${row(e.one_step)}
${row(e.five_steps)}

Each extra step: ${e.per_extra_step.redis_commands} Redis commands (${e.round_trips_per_extra_step} round trip by design: the step script),
${e.per_extra_step.worker_cpu_us} µs worker CPU, ${e.per_extra_step.redis_cpu_us} µs Redis CPU.
`;
}

/** Phase r's rows: entries checked, and orphans repaired, within one reaper interval of their check time, at every size. */
function reaperRows(r: any): string {
  if (!r) return '';
  const base = r.rows.find((row: any) => row.sessions === 100) ?? r.rows[0];
  const met = (row: any) => Math.max(row.lag_max_ms, row.repair_ms) <= r.bound_ms;
  return r.rows
    .filter((row: any) => row !== base)
    .map(
      (row: any) =>
        `| (r) Reaper, ${row.sessions} active sessions: checks late by, p99 / max; orphans repaired after (ms) | ${row.lag_p99_ms} / ${row.lag_max_ms}; ${row.repair_ms} (${row.checks_per_s} checks/s, CPU ${row.cpu_share} + Redis ${row.redis_cpu_share} s/s) | ${base.lag_p99_ms} / ${base.lag_max_ms}; ${base.repair_ms} at ${base.sessions} sessions | | ≤ ${r.bound_ms} (REAPER_INTERVAL_MS) — ${met(row) ? 'met' : '**missed**'} |`,
    )
    .join('\n');
}

if (process.argv.includes('--markdown')) {
  // Rewrites latest.md from latest.json (after a change to the report's layout), measuring nothing.
  const dir = join(ROOT, 'bench', 'results');
  writeFileSync(join(dir, 'latest.md'), markdown(JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8'))));
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
