import type { CommandContext } from '../io.ts';
import { formatTable } from '../table.ts';

/** `baton sessions [--limit n] [--cursor c]`: one page as a table; the next page's command on stderr. */
export async function sessions(ctx: CommandContext, args: { limit: number | undefined; cursor: string | undefined }): Promise<number> {
  const page = await ctx.client.listSessions({ limit: args.limit, cursor: args.cursor, signal: ctx.signal });
  if (page.items.length === 0) {
    ctx.stderr.write('no sessions\n');
    return 0;
  }
  const rows = page.items.map((s) => [s.session_id, s.status, String(s.total_messages)]);
  ctx.stdout.write(`${formatTable(['SESSION', 'STATUS', 'MESSAGES'], rows)}\n`);
  if (page.nextCursor) {
    const limit = args.limit === undefined ? '' : ` --limit ${args.limit}`;
    ctx.stderr.write(`more: baton sessions${limit} --cursor ${page.nextCursor}\n`);
  }
  return 0;
}
