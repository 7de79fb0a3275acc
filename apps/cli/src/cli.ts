import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BatonClient, BatonError } from '@baton/client';
import { UsageError, type CommandContext } from './io.ts';
import { resume } from './commands/resume.ts';
import { send } from './commands/send.ts';
import { cancel, history, remove, show } from './commands/session.ts';
import { sessions } from './commands/sessions.ts';
import { tail } from './commands/tail.ts';

export const DEFAULT_URL = 'http://localhost:3000';

export const USAGE = `Usage: baton <command> [options]

Commands:
  send <session|new> <text…> [--wait] [--timeout <s>] [--enqueue]
      Send a message ("new" creates a session first; "-" reads the text from stdin).
      Prints the session id; with --wait, shows progress on stderr and prints the reply.
  tail <session> [-n <count>] [--poll]
      Print the last <count> messages (default 10), then messages and deltas as they
      happen, until Ctrl-C or the session is deleted. Streams its events; --poll (or a
      server without streaming) long-polls instead.
  sessions [--limit <n>] [--cursor <cursor>]
      A table of sessions, oldest first.
  show <session> [--json]
      The session: status, agent, counts, last reply or error, and its interrupts.
  history <session> [--json]
      Every message, oldest first.
  cancel <session>
      Cancel the running turn.
  delete <session>
      Delete the session (a running turn is aborted).
  resume <session> <interrupt_id> <value-json | --approve | --deny [reason]>
      Answer an interrupt of an interrupted session: --approve / --deny for a tool
      approval ({"approved": true|false, "reason"}), or a JSON value for user input.

Environment: BATON_URL (default ${DEFAULT_URL}), BATON_API_KEY.
Exit codes: 0 ok; 1 the request or the turn failed (API error, Baton unreachable); 2 bad usage.`;

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: CommandContext['stdout'];
  stderr: CommandContext['stderr'];
  stdin: NodeJS.ReadableStream;
  /** Ctrl-C: commands stop what they wait for. */
  signal?: AbortSignal;
}

const COMMANDS = {
  send: {
    options: {
      wait: { type: 'boolean', short: 'w' },
      timeout: { type: 'string' },
      enqueue: { type: 'boolean' },
    },
  },
  tail: { options: { poll: { type: 'boolean' }, lines: { type: 'string', short: 'n' } } },
  sessions: { options: { limit: { type: 'string', short: 'n' }, cursor: { type: 'string' } } },
  show: { options: { json: { type: 'boolean' } } },
  history: { options: { json: { type: 'boolean' } } },
  cancel: { options: {} },
  delete: { options: {} },
  resume: { options: { approve: { type: 'boolean' }, deny: { type: 'boolean' } } },
} satisfies Record<string, { options: ParseArgsConfig['options'] }>;

/** Runs one command line; answers the exit code. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const url = io.env.BATON_URL || DEFAULT_URL;
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      io.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    if (!(command in COMMANDS)) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    const name = command as keyof typeof COMMANDS;
    const { values, positionals } = parse(rest, COMMANDS[name].options);
    if (values.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const ctx: CommandContext = {
      client: new BatonClient({ baseUrl: url, ...(io.env.BATON_API_KEY ? { apiKey: io.env.BATON_API_KEY } : {}) }),
      stdout: io.stdout,
      stderr: io.stderr,
      stdin: io.stdin,
      signal: io.signal ?? new AbortController().signal,
    };
    switch (name) {
      case 'send': {
        const [session, ...words] = positionals;
        if (!session || words.length === 0) throw new UsageError('send needs a session id (or "new") and the text');
        return await send(ctx, {
          session,
          text: words.join(' '),
          wait: values.wait === true,
          timeoutS: numberOption(values.timeout, '--timeout', 300),
          enqueue: values.enqueue === true,
        });
      }
      case 'tail': {
        const [session, ...extra] = positionals;
        if (!session || extra.length > 0) throw new UsageError('tail needs exactly one session id');
        return await tail(ctx, { session, poll: values.poll === true, lines: countOption(values.lines, '-n', 10) });
      }
      case 'show':
      case 'history': {
        const session = oneSession(name, positionals);
        const args = { session, json: values.json === true };
        return await (name === 'show' ? show(ctx, args) : history(ctx, args));
      }
      case 'cancel':
        return await cancel(ctx, { session: oneSession(name, positionals) });
      case 'delete':
        return await remove(ctx, { session: oneSession(name, positionals) });
      case 'resume': {
        const [session, interruptId, ...rest] = positionals;
        if (!session || !interruptId) throw new UsageError('resume needs a session id and an interrupt id');
        return await resume(ctx, { session, interruptId, rest, approve: values.approve === true, deny: values.deny === true });
      }
      case 'sessions': {
        if (positionals.length > 0) throw new UsageError('sessions takes no arguments');
        const limit = values.limit === undefined ? undefined : numberOption(values.limit, '--limit', 50);
        return await sessions(ctx, { limit, cursor: typeof values.cursor === 'string' ? values.cursor : undefined });
      }
    }
  } catch (err) {
    return report(err, io, url);
  }
}

type Values = Record<string, string | boolean | undefined>;

function parse(args: string[], options: ParseArgsConfig['options']): { values: Values; positionals: string[] } {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function oneSession(command: string, positionals: string[]): string {
  const [session, ...extra] = positionals;
  if (!session || extra.length > 0) throw new UsageError(`${command} needs exactly one session id`);
  return session;
}

/** A count of 0 or more. */
function countOption(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d{1,6}$/.test(value)) throw new UsageError(`${name} must be a count (0 or more), got ${JSON.stringify(value)}`);
  return Number(value);
}

function numberOption(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`${name} must be a positive number, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Prints why the command failed; answers the exit code. */
function report(err: unknown, io: CliIo, url: string): number {
  if (err instanceof UsageError) {
    io.stderr.write(`baton: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (err instanceof BatonError) {
    if (err.status === 0) {
      io.stderr.write(`baton: ${err.message}. Is Baton running? Set BATON_URL (now ${url}).\n`);
    } else {
      const hint = err.status === 401 ? ' Set BATON_API_KEY.' : '';
      io.stderr.write(`baton: ${err.message} (${err.status} ${err.code}).${hint}\n`);
    }
    return 1;
  }
  if ((err as { name?: string })?.name === 'AbortError') {
    io.stderr.write('baton: interrupted\n');
    return 130;
  }
  io.stderr.write(`baton: ${(err as Error)?.message ?? String(err)}\n`);
  return 1;
}
