import { BatonError, type ChatMessage } from '@baton/client';
import { messageLine } from '../format.ts';
import type { CommandContext } from '../io.ts';
import { ReplyText, streamUnavailable } from '../streaming.ts';

/** How often a long-polling tail looks for a new turn while the session is idle. */
const IDLE_POLL_MS = 1000;

/**
 * `baton tail <session> [-n count] [--poll]`: prints the last `count` messages of the history,
 * then messages (`role: content`) and streamed deltas as they come on stdout, statuses on
 * stderr, until Ctrl-C (exit 0) or the session is deleted (exit 0). Streams
 * `GET /sessions/{id}/events`; long-polls when the server has no stream.
 */
export async function tail(ctx: CommandContext, args: { session: string; poll: boolean; lines: number }): Promise<number> {
  if (!args.poll) {
    try {
      return await follow(ctx, args.session, args.lines);
    } catch (err) {
      if (!streamUnavailable(err)) throw err;
      ctx.stderr.write(`streaming is not available (${err.code}); long-polling instead\n`);
    }
  }
  return await poll(ctx, args.session, args.lines);
}

/** Prints the last `lines` messages of the history; answers how many messages it has. */
async function earlier(ctx: CommandContext, out: Printer, id: string, lines: number): Promise<number> {
  const history = await ctx.client.messages(id, { signal: ctx.signal });
  for (const message of lines > 0 ? history.slice(-lines) : []) out.message(message);
  return history.length;
}

/**
 * Streams the session's events: replies as they are written (deltas), statuses and errors.
 * The stream carries replies only, so when a turn starts its message is read from the history.
 */
async function follow(ctx: CommandContext, id: string, lines: number): Promise<number> {
  const { client, signal } = ctx;
  const out = new Printer(ctx);
  // Messages before this index were in the history when tail started, or printed already.
  let seen = await earlier(ctx, out, id, lines);
  let opened = false;
  const events = client.stream(id, {
    signal,
    onOpen: () => {
      if (!opened) ctx.stderr.write(`following session ${id} (stream)\n`);
      opened = true;
    },
  });
  for await (const event of events) {
    switch (event.event) {
      case 'status':
        out.status(event.data);
        if (event.data.status === 'running') {
          // The turn's message entered the history as it started: the last one not from the assistant.
          const history = await client.messages(id, { signal });
          let index = history.length - 1;
          while (index >= 0 && history[index]?.role === 'assistant') index--;
          if (index >= seen) {
            out.message(history[index] as ChatMessage);
            seen = index + 1;
          }
        }
        break;
      case 'delta':
        out.delta(event.data.turn_id, event.data.content, event.data.offset);
        break;
      case 'message':
        out.reply(event.data.turn_id, event.data.message);
        seen++;
        break;
      case 'error':
        out.error(event.data.error);
        break;
      case 'deleted':
        out.close();
        ctx.stderr.write(`session ${id} was deleted\n`);
        return 0;
    }
  }
  out.close();
  return 0;
}

/** Long-polls while a turn runs, polls every second while idle, and prints new history messages. */
async function poll(ctx: CommandContext, id: string, lines: number): Promise<number> {
  const { client, signal } = ctx;
  const out = new Printer(ctx);
  let seen = await earlier(ctx, out, id, lines);
  let view = await client.getSession(id, { signal });
  let status = view.status;
  ctx.stderr.write(`following session ${id} (long-poll; ${status})\n`);
  try {
    for (;;) {
      if (view.total_messages > seen) {
        const messages = await client.messages(id, { signal });
        for (const message of messages.slice(seen)) out.message(message);
        seen = messages.length;
      }
      if (view.status !== status) {
        status = view.status;
        out.status(view);
      }
      if (view.status === 'running') {
        view = await client.waitForTurn(id, { timeoutS: 30, signal });
      } else {
        if (!(await pause(IDLE_POLL_MS, signal))) return 0;
        view = await client.getSession(id, { signal });
      }
    }
  } catch (err) {
    if (signal.aborted) return 0;
    if (err instanceof BatonError && err.code === 'session_not_found') {
      ctx.stderr.write(`session ${id} was deleted\n`);
      return 0;
    }
    throw err;
  }
}

/** Writes messages and reply deltas on stdout (`role: content`), statuses and errors on stderr. */
class Printer {
  /** The turn whose reply is being streamed on the current line. */
  private streaming: { turnId: string; text: ReplyText } | null = null;

  constructor(private readonly ctx: CommandContext) {}

  delta(turnId: string, content: string, offset: number): void {
    if (this.streaming?.turnId !== turnId) {
      this.close();
      this.ctx.stdout.write('assistant: ');
      this.streaming = { turnId, text: new ReplyText() };
    }
    this.ctx.stdout.write(this.streaming.text.delta(content, offset));
  }

  /** A turn's reply: the rest of its streamed line, or the whole message. */
  reply(turnId: string, message: ChatMessage): void {
    if (this.streaming?.turnId === turnId && typeof message.content === 'string') {
      this.ctx.stdout.write(`${this.streaming.text.rest(message.content)}\n`);
      this.streaming = null;
      return;
    }
    this.message(message);
  }

  message(message: ChatMessage): void {
    this.close();
    this.ctx.stdout.write(`${messageLine(message)}\n`);
  }

  status(view: { status: string; error?: string | null }): void {
    this.close();
    const error = view.status === 'error' && view.error ? `: ${view.error}` : '';
    this.ctx.stderr.write(`[${view.status}${error}]\n`);
  }

  error(error: string): void {
    this.close();
    this.ctx.stderr.write(`[turn failed: ${error}]\n`);
  }

  /** Ends a streamed line left open. */
  close(): void {
    if (this.streaming) this.ctx.stdout.write('\n');
    this.streaming = null;
  }
}

function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
