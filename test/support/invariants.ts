import { expect } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { http } from './baton.ts';
import type { ReceivedRequest, Receiver } from './receiver.ts';

/**
 * What the fault tests (test/faults*.test.ts) check once a fault is over: no accepted
 * turn lost, none applied twice, no session left running, and exactly one terminal
 * webhook event per turn once de-duplicated by `webhook-id`.
 *
 * A Ledger records every message a test sent and what came back. A 202 is *accepted*:
 * its turn must run exactly once. Any other answer is *refused*: it must never run.
 * A request that got no answer (its API process died under it) is *unknown*: it may
 * have been stored before the crash, so it may run, but at most once. So is a 503 for a
 * POST that was in flight when Redis died (`doubt`): its write may have run, unanswered.
 */
export type Outcome = 'accepted' | 'refused' | 'unknown';

export interface Sent {
  sessionId: string;
  /** Unique in the ledger: history and webhooks are matched on it. */
  content: string;
  outcome: Outcome;
  turnId: string | null;
  /** The HTTP status, null when no answer came. */
  status: number | null;
  /** When the POST was sent and answered (`performance.now()`), and how long it took. */
  startedAt: number;
  ms: number;
}

export class Ledger {
  readonly sent: Sent[] = [];
  private count = 0;
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(readonly tag: string) {}

  /**
   * POSTs the session's next message (`if_busy: "enqueue"`, its content as the
   * Idempotency-Key, as a careful client would) and records the outcome.
   */
  async send(base: string, sessionId: string): Promise<Sent> {
    const content = `${this.tag} ${++this.count}`;
    const entry: Sent = { sessionId, content, outcome: 'unknown', turnId: null, status: null, startedAt: performance.now(), ms: 0 };
    await post(base, entry);
    this.sent.push(entry);
    const accepted = this.accepted.length;
    this.waiters = this.waiters.filter((w) => (w.count <= accepted ? (w.resolve(), false) : true));
    return entry;
  }

  /**
   * Sends an unknown message again, under the same Idempotency-Key, until it is answered
   * otherwise than 409 (the lost request still holds the key) or 503 (Redis is away). A
   * 202 gives the turn the lost write stored, or stores the message now; in that case it
   * comes after every message sent meanwhile, and moves to the end of the ledger.
   * `storedBefore`: the session's history held it before the retry.
   */
  async retry(base: string, entry: Sent): Promise<{ storedBefore: boolean }> {
    const history = await http(base, 'GET', `/sessions/${entry.sessionId}/messages`);
    const storedBefore = (history.body as { content: string }[]).some((m) => m.content === entry.content);
    await waitUntil(async () => (await post(base, entry), entry.status !== 409 && entry.status !== 503), {
      timeoutMs: 15_000,
      intervalMs: 200,
      what: `a retry of "${entry.content}" to be answered`,
    });
    if (!storedBefore) this.sent.push(...this.sent.splice(this.sent.indexOf(entry), 1));
    return { storedBefore };
  }

  get accepted(): Sent[] {
    return this.sent.filter((s) => s.outcome === 'accepted');
  }
  get refused(): Sent[] {
    return this.sent.filter((s) => s.outcome === 'refused');
  }
  get unknown(): Sent[] {
    return this.sent.filter((s) => s.outcome === 'unknown');
  }

  /**
   * Counts the refused messages `which` selects as unknown: their refusal came from an
   * API that could not tell whether its write happened (Redis died while running it).
   */
  doubt(which: (s: Sent) => boolean): Sent[] {
    const doubted = this.refused.filter(which);
    for (const s of doubted) s.outcome = 'unknown';
    return doubted;
  }

  /** Resolves once `count` messages have been accepted: the moment to inject a fault "mid-way". */
  acceptedAtLeast(count: number): Promise<void> {
    if (this.accepted.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}

/** POSTs `entry`'s message and records what came back in it. */
async function post(base: string, entry: Sent): Promise<void> {
  const started = performance.now();
  entry.outcome = 'unknown';
  entry.status = null;
  try {
    const res = await fetch(`${base}/sessions/${entry.sessionId}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': entry.content },
      body: JSON.stringify({ content: entry.content, if_busy: 'enqueue' }),
      // A POST that hangs is a failure of its own: it shows up as `unknown` with no status.
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json().catch(() => null)) as { turn_id?: string } | null;
    entry.status = res.status;
    entry.outcome = res.status === 202 ? 'accepted' : 'refused';
    if (res.status === 202) entry.turnId = body?.turn_id ?? null;
  } catch {
    // No answer: the connection broke or timed out.
  }
  entry.ms = performance.now() - started;
}

export interface LoadOptions {
  ledger: Ledger;
  sessions: string[];
  /** Base URL for session `i`'s next request (a test can move load between APIs). */
  target: (i: number) => string;
  /**
   * Rounds each session runs, one after the other: two messages back to back (the
   * second usually waits in the inbox), then a long-poll until the session is idle.
   */
  rounds: number;
  /** While this is true, sessions go on past `rounds` (up to `maxRounds`), so the load spans the fault. */
  more?: () => boolean;
  maxRounds?: number;
  /** After a round with a refused or unanswered request: wait for the service to answer again. */
  recover?: (i: number) => Promise<unknown>;
}

/** Runs every session's rounds at once; resolves when all are done. */
export async function runLoad(o: LoadOptions): Promise<void> {
  const maxRounds = o.maxRounds ?? o.rounds * 4;
  await Promise.all(
    o.sessions.map(async (id, i) => {
      for (let round = 0; round < maxRounds && (round < o.rounds || o.more?.()); round++) {
        const a = await o.ledger.send(o.target(i), id);
        const b = await o.ledger.send(o.target(i), id);
        if (a.outcome !== 'accepted' || b.outcome !== 'accepted') await o.recover?.(i);
        // Pacing only: whatever it answers (even a 503 or no answer), the next round follows.
        await http(o.target(i), 'GET', `/sessions/${id}?wait=true&timeout=3`).catch(() => undefined);
      }
    }),
  );
}

export interface Figures {
  sessions: number;
  /** Messages sent, and how each ended (accepted = 202). */
  sent: number;
  accepted: number;
  refused: number;
  unknown: number;
  /** Unknown messages that were stored after all (and ran once). */
  unknownRan: number;
  /** Accepted turns missing from the history at the end (always 0 when the check passes). */
  lost: number;
  /** Distinct `webhook-id`s received: one per turn that ran. */
  events: number;
  /** Webhook requests received in all, duplicates and retries included. */
  webhookRequests: number;
  /** Requests beyond the first for a `webhook-id` (retries, redeliveries, repeats). */
  duplicateDeliveries: number;
}

interface Snapshot {
  views: Record<string, any>;
  histories: Record<string, { role: string; content: string | null }[]>;
  deliveries: Record<string, { turn_id: string; status: string }[]>;
}

const echo = (content: string) => `echo: ${content}`;

/**
 * Waits (at most `timeoutMs`) until every session has stopped running with an empty
 * inbox, every turn that ran has its webhook event at `receiver` and no delivery is
 * pending; then asserts the invariants and returns the figures.
 */
export async function checkInvariants(
  ledger: Ledger,
  opts: { base: string; receiver: Receiver; timeoutMs?: number },
): Promise<Figures> {
  const { base, receiver } = opts;
  const sessions = [...new Set(ledger.sent.map((s) => s.sessionId))];
  const byContent = new Map(ledger.sent.map((s) => [s.content, s]));

  const take = async (): Promise<Snapshot> => {
    const snap: Snapshot = { views: {}, histories: {}, deliveries: {} };
    await Promise.all(
      sessions.map(async (id) => {
        const [view, history, deliveries] = await Promise.all([
          http(base, 'GET', `/sessions/${id}`),
          http(base, 'GET', `/sessions/${id}/messages`),
          http(base, 'GET', `/sessions/${id}/webhooks`),
        ]);
        if (view.status !== 200 || history.status !== 200 || deliveries.status !== 200) {
          throw new Error(`session ${id}: ${view.status}/${history.status}/${deliveries.status}`);
        }
        snap.views[id] = view.body;
        snap.histories[id] = history.body;
        snap.deliveries[id] = deliveries.body;
      }),
    );
    return snap;
  };
  /** What is still missing in a snapshot; empty when everything has settled. */
  const missing = (snap: Snapshot): string[] => {
    const out: string[] = [];
    const ids = new Set(receiver.requests.map((r) => r.headers['webhook-id']));
    const contents = new Set(receiver.requests.map((r) => `${r.json?.session_id} ${r.json?.response?.content}`));
    for (const id of sessions) {
      const view = snap.views[id];
      if (view.status === 'running' || view.pending_messages !== 0) out.push(`session ${id} is ${view.status} (${view.pending_messages} queued)`);
      if (snap.deliveries[id]!.some((d) => d.status === 'pending')) out.push(`session ${id} has a pending delivery`);
      // Unknown messages that did get stored: their events are matched on the reply.
      for (const m of snap.histories[id]!) {
        const sent = m.role === 'user' && m.content !== null ? byContent.get(m.content) : undefined;
        if (sent?.outcome === 'unknown' && !contents.has(`${id} ${echo(sent.content)}`)) out.push(`no event for "${sent.content}"`);
      }
    }
    for (const s of ledger.accepted) if (!ids.has(`msg_${s.turnId}`)) out.push(`no event for turn ${s.turnId} ("${s.content}")`);
    return out;
  };

  let last: string[] = [];
  let snap: Snapshot;
  try {
    snap = await waitUntil(
      async () => {
        const s = await take();
        last = missing(s);
        return last.length === 0 && s;
      },
      { timeoutMs: opts.timeoutMs ?? 20_000, intervalMs: 200, what: 'every session to settle and every event to arrive' },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; still missing (${last.length}): ${last.slice(0, 10).join('; ')}`);
  }

  // History: each session's is [user, its reply]*: every accepted message once, in the
  // order it was accepted; no refused message; an unknown one at most once.
  let lost = 0;
  for (const id of sessions) {
    const history = snap.histories[id]!;
    const mine = ledger.sent.filter((s) => s.sessionId === id);
    const users: string[] = [];
    expect(history.length % 2, `session ${id}: a message without its reply: ${JSON.stringify(history)}`).toBe(0);
    for (let k = 0; k < history.length; k += 2) {
      const [user, reply] = [history[k]!, history[k + 1]!];
      expect(user.role, `session ${id}, history[${k}]`).toBe('user');
      expect(reply, `session ${id}: the reply to "${user.content}"`).toEqual({ role: 'assistant', content: echo(String(user.content)) });
      users.push(String(user.content));
    }
    const twice = users.filter((c, i) => users.indexOf(c) !== i);
    expect(twice, `session ${id}: messages applied twice`).toEqual([]);
    for (const c of users) {
      expect(byContent.get(c)?.sessionId, `session ${id}: "${c}" was never sent to it`).toBe(id);
      expect(byContent.get(c)?.outcome, `session ${id}: "${c}" was refused (${byContent.get(c)?.status}) yet ran`).not.toBe('refused');
    }
    const accepted = mine.filter((s) => s.outcome === 'accepted').map((s) => s.content);
    lost += accepted.filter((c) => !users.includes(c)).length;
    expect(users.filter((c) => byContent.get(c)?.outcome === 'accepted'), `session ${id}: accepted messages in history`).toEqual(accepted);

    const view = snap.views[id];
    expect(view.status, `session ${id}`).not.toBe('running');
    // A stale result must not have overwritten the session's last reply.
    if (view.response !== null) expect(view.response, `session ${id}: response`).toEqual(history.at(-1));
  }

  // Webhooks, de-duplicated by `webhook-id`: one event per turn that ran, none other.
  const groups = new Map<string, ReceivedRequest[]>();
  for (const r of receiver.requests) {
    const id = r.headers['webhook-id'] ?? '';
    groups.set(id, [...(groups.get(id) ?? []), r]);
  }
  const ran = new Map<string, Set<string>>(sessions.map((id) => [id, new Set()])); // session → turn ids
  const matched = new Set<string>(); // contents whose event was seen
  for (const [webhookId, requests] of groups) {
    const first = requests[0]!.json;
    for (const r of requests) expect(r.body, `${webhookId}: every delivery carries the same event`).toBe(requests[0]!.body);
    expect(webhookId).toBe(`msg_${first.turn_id}`);
    expect(first.type, `${webhookId}: type`).toBe('turn.completed');
    const content = String(first.response?.content ?? '').replace(/^echo: /, '');
    const sent = byContent.get(content);
    expect(sent?.sessionId, `${webhookId}: an event for "${content}", never sent to session ${first.session_id}`).toBe(first.session_id);
    if (sent!.outcome === 'accepted') expect(first.turn_id, `${webhookId}: turn of "${content}"`).toBe(sent!.turnId);
    expect(sent!.outcome, `${webhookId}: an event for a refused message "${content}"`).not.toBe('refused');
    expect(matched.has(content), `"${content}": two events with different webhook-ids`).toBe(false);
    expect(snap.histories[sent!.sessionId]!.some((m) => m.content === content), `"${content}": an event but not in history`).toBe(true);
    matched.add(content);
    ran.get(sent!.sessionId)!.add(first.turn_id);
  }
  // Server side too: one delivery per turn that ran, each delivered.
  for (const id of sessions) {
    const log = snap.deliveries[id]!;
    expect(log.map((d) => d.turn_id).sort(), `session ${id}: deliveries`).toEqual([...ran.get(id)!].sort());
    expect(log.filter((d) => d.status !== 'delivered'), `session ${id}: undelivered`).toEqual([]);
  }

  const unknownRan = ledger.unknown.filter((s) => matched.has(s.content)).length;
  return {
    sessions: sessions.length,
    sent: ledger.sent.length,
    accepted: ledger.accepted.length,
    refused: ledger.refused.length,
    unknown: ledger.unknown.length,
    unknownRan,
    lost,
    events: groups.size,
    webhookRequests: receiver.requests.length,
    duplicateDeliveries: receiver.requests.length - groups.size,
  };
}
