import type { CommandContext } from '../io.ts';
import { messageLine, sessionLines } from '../format.ts';

/** `baton show <session> [--json]`: status, agent, counts, the last reply or error, and any interrupts. */
export async function show(ctx: CommandContext, args: { session: string; json: boolean }): Promise<number> {
  const view = await ctx.client.getSession(args.session, { signal: ctx.signal });
  ctx.stdout.write(args.json ? `${JSON.stringify(view, null, 2)}\n` : `${sessionLines(view).join('\n')}\n`);
  return 0;
}

/** `baton history <session> [--json]`: every message, oldest first, one `role: content` line each. */
export async function history(ctx: CommandContext, args: { session: string; json: boolean }): Promise<number> {
  const messages = await ctx.client.messages(args.session, { signal: ctx.signal });
  if (args.json) ctx.stdout.write(`${JSON.stringify(messages, null, 2)}\n`);
  else if (messages.length > 0) ctx.stdout.write(`${messages.map(messageLine).join('\n')}\n`);
  else ctx.stderr.write('no messages\n');
  return 0;
}

/** `baton cancel <session>`: cancels the running turn; prints its id (nothing ran: says so on stderr). */
export async function cancel(ctx: CommandContext, args: { session: string }): Promise<number> {
  const result = await ctx.client.cancel(args.session, { signal: ctx.signal });
  if (result.cancelled_turn_id) ctx.stdout.write(`cancelled turn ${result.cancelled_turn_id}\n`);
  else ctx.stderr.write(`no turn was running in session ${args.session}\n`);
  return 0;
}

/** `baton delete <session>`: deletes it (a running turn is aborted). */
export async function remove(ctx: CommandContext, args: { session: string }): Promise<number> {
  await ctx.client.deleteSession(args.session, { signal: ctx.signal });
  ctx.stderr.write(`deleted session ${args.session}\n`);
  return 0;
}
