/**
 * The Baton client SDK in a few lines: create a session, send a message, wait for the
 * reply, read the history.
 *
 *   npm start                                   # in one terminal
 *   npx tsx --conditions=@baton/source examples/client/quickstart.ts   # in another (BATON_URL, BATON_API_KEY)
 */
import { pathToFileURL } from 'node:url';
import { BatonClient, BatonError } from '@baton/client';

export async function quickstart(client: BatonClient, text = 'Hello, Baton', log = console.log): Promise<string> {
  const session = await client.createSession();
  const { turn_id } = await client.sendMessage(session.session_id, text); // 202: the turn is queued
  log(`session ${session.session_id}, turn ${turn_id}`);

  const done = await client.waitForTurn(session.session_id, { timeoutS: 60 }); // long-polls
  if (done.status !== 'idle') throw new Error(`turn ended ${done.status}: ${done.error}`);
  log(`reply: ${done.response?.content}`);

  for (const message of await client.messages(session.session_id)) {
    log(`  ${message.role}: ${message.content}`);
  }
  return done.response?.content ?? '';
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const client = new BatonClient({
    baseUrl: process.env.BATON_URL ?? 'http://localhost:3000',
    ...(process.env.BATON_API_KEY ? { apiKey: process.env.BATON_API_KEY } : {}),
  });
  try {
    await quickstart(client, process.argv.slice(2).join(' ') || undefined);
  } catch (err) {
    // Every API error is a BatonError with the API's status and code.
    if (err instanceof BatonError) console.error(`${err.status} ${err.code}: ${err.message}`);
    else console.error(err);
    process.exitCode = 1;
  }
}
