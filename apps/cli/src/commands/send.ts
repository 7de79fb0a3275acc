import type { ChatMessage, StreamEvent } from '@baton/client';
import type { CommandContext } from '../io.ts';
import { startProgress } from '../progress.ts';
import { ReplyText, streamUnavailable } from '../streaming.ts';

export interface SendArgs {
  /** A session id, or `new`. */
  session: string;
  /** `-` reads stdin. */
  text: string;
  wait: boolean;
  timeoutS: number;
  enqueue: boolean;
}

/**
 * `baton send <session|new> <text> [--wait]`: prints the session id, or with `--wait`
 * the reply: streamed as it is written when the server streams events, else after a
 * long-poll; progress on stderr until the first words. A failed turn exits 1.
 */
export async function send(ctx: CommandContext, args: SendArgs): Promise<number> {
  const { client } = ctx;
  const text = args.text === '-' ? await readAll(ctx.stdin) : args.text;
  const id = args.session === 'new' ? (await client.createSession({}, { signal: ctx.signal })).session_id : args.session;
  const submit = () =>
    client.sendMessage(id, text, { signal: ctx.signal, ...(args.enqueue ? { ifBusy: 'enqueue' as const } : {}) });
  if (!args.wait) {
    const accepted = await submit();
    ctx.stdout.write(`${id}\n`);
    ctx.stderr.write(`turn ${accepted.turn_id} ${accepted.queued ? 'queued' : 'accepted'}\n`);
    return 0;
  }

  // Follow the session's events from before the message is sent, so none of its turn is missed.
  const deadline = AbortSignal.any([ctx.signal, AbortSignal.timeout(args.timeoutS * 1000)]);
  const events = await openStream(ctx, id, deadline);
  try {
    const accepted = await submit();
    ctx.stderr.write(`session ${id}, turn ${accepted.turn_id}\n`);
    const stop = startProgress(ctx.stderr, 'waiting for the reply');
    let outcome: Outcome;
    try {
      outcome = events ? await streamed(ctx, events, accepted.turn_id, stop) : await polled(ctx, id, args.timeoutS);
    } finally {
      stop();
    }
    ctx.signal.throwIfAborted();
    switch (outcome.kind) {
      case 'reply':
        ctx.stdout.write(`${outcome.text}\n`);
        return 0;
      case 'failed':
        ctx.stderr.write(`baton: the turn failed: ${outcome.error}\n`);
        return 1;
      case 'deleted':
        ctx.stderr.write(`baton: session ${id} was deleted before the turn ended\n`);
        return 1;
      default:
        ctx.stderr.write(`baton: still running after ${args.timeoutS}s; follow it with: baton tail ${id}\n`);
        return 1;
    }
  } finally {
    await events?.return?.();
  }
}

/** How a waited-for turn ended; a streamed reply's text is on stdout already but for `text`. */
type Outcome = { kind: 'reply'; text: string } | { kind: 'failed'; error: string } | { kind: 'deleted' } | { kind: 'timeout' };

/** The session's event stream, open (its snapshot read); null when the server does not stream. */
async function openStream(ctx: CommandContext, id: string, signal: AbortSignal): Promise<AsyncIterator<StreamEvent> | null> {
  const events = ctx.client.stream(id, { signal });
  try {
    const first = await events.next();
    return first.done ? null : events;
  } catch (err) {
    if (streamUnavailable(err)) return null;
    throw err;
  }
}

/** Writes the turn's reply deltas to stdout as they come; ends with the turn. */
async function streamed(
  ctx: CommandContext,
  events: AsyncIterator<StreamEvent>,
  turnId: string,
  stopProgress: () => void,
): Promise<Outcome> {
  const reply = new ReplyText();
  for (;;) {
    const { value: event, done } = await events.next();
    if (done) return { kind: 'timeout' }; // the deadline (or Ctrl-C) ended the stream
    if (event.event === 'deleted') return { kind: 'deleted' };
    if (event.data.turn_id !== turnId) continue;
    switch (event.event) {
      case 'delta': {
        const text = reply.delta(event.data.content, event.data.offset);
        if (text === '') break;
        stopProgress();
        ctx.stdout.write(text);
        break;
      }
      case 'message': {
        // A step's message (a tool call or result): the reply comes later.
        if (event.data.step !== undefined) break;
        // What the deltas did not print yet (all of it when the agent does not stream).
        const { content } = event.data.message;
        const text = reply.printed > 0 && typeof content === 'string' ? reply.rest(content) : replyText(event.data.message);
        return { kind: 'reply', text };
      }
      case 'error':
        if (reply.printed > 0) ctx.stdout.write('\n');
        return { kind: 'failed', error: event.data.error };
      case 'interrupted':
        return { kind: 'failed', error: `the turn waits for a person: ${JSON.stringify(event.data.interrupts)} (POST /sessions/{id}/resume)` };
    }
  }
}

/** Long-polls until the turn ends (a server without an event stream). */
async function polled(ctx: CommandContext, id: string, timeoutS: number): Promise<Outcome> {
  const session = await ctx.client.waitForTurn(id, { timeoutS, signal: ctx.signal });
  if (session.status === 'running') return { kind: 'timeout' };
  // A cancelled turn leaves the session idle, with its error set.
  if (session.status === 'error' || session.error) return { kind: 'failed', error: session.error ?? 'unknown error' };
  return { kind: 'reply', text: replyText(session.response) };
}

function replyText(message: ChatMessage | null): string {
  if (!message) return '';
  if (typeof message.content === 'string' && !message.tool_calls?.length) return message.content;
  return JSON.stringify(message);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\n$/, '');
}
