import type { CommandContext } from '../io.ts';
import { UsageError } from '../io.ts';

export interface ResumeArgs {
  session: string;
  interruptId: string;
  /** The rest of the command line: a JSON value, or with `--deny` the reason. */
  rest: string[];
  approve: boolean;
  deny: boolean;
}

/**
 * The answer to send: `--approve` → `{approved: true}`, `--deny [reason]` →
 * `{approved: false, reason}` (a `tool_approval`), else the JSON value given (a `user_input`).
 */
export function resumeValue(args: Omit<ResumeArgs, 'session' | 'interruptId'>): unknown {
  if (args.approve && args.deny) throw new UsageError('resume takes --approve or --deny, not both');
  if (args.approve) {
    if (args.rest.length > 0) throw new UsageError('resume --approve takes no value');
    return { approved: true };
  }
  if (args.deny) {
    const reason = args.rest.join(' ');
    return reason ? { approved: false, reason } : { approved: false };
  }
  if (args.rest.length !== 1) throw new UsageError('resume needs one answer: a JSON value (quote it), --approve or --deny [reason]');
  try {
    return JSON.parse(args.rest[0]!);
  } catch {
    throw new UsageError(`the value must be JSON, got ${JSON.stringify(args.rest[0])} (text is '"like this"')`);
  }
}

/** `baton resume <session> <interrupt_id> <value-json | --approve | --deny [reason]>`: answers an interrupt; the turn goes on. */
export async function resume(ctx: CommandContext, args: ResumeArgs): Promise<number> {
  const value = resumeValue(args);
  const result = await ctx.client.resume(args.session, { interruptId: args.interruptId, value, signal: ctx.signal });
  ctx.stderr.write(`session ${result.session_id} ${result.status}; follow it with: baton tail ${result.session_id}\n`);
  return 0;
}
