import { once } from 'node:events';
import { type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP agent (for `AGENT=http` / `HTTP_AGENT_URL`) that holds every turn until the
 * test calls `release()`: turns that run exactly as long as a test needs, no timing.
 */
export class HeldAgent {
  /** Turns waiting for an answer (a cancelled turn's request closes and leaves). */
  readonly held = new Set<ServerResponse>();
  /** How many turns reached the agent so far. */
  received = 0;
  private readonly server = createServer((req, res) => {
    req.resume();
    this.received++;
    this.held.add(res);
    res.on('close', () => this.held.delete(res));
  });

  static async start(): Promise<HeldAgent> {
    const agent = new HeldAgent();
    agent.server.listen(0, '127.0.0.1');
    await once(agent.server, 'listening');
    return agent;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/agent`;
  }

  /** Answers every held turn with an assistant message `content`. */
  release(content: string): void {
    for (const res of this.held) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ content }));
    }
    this.held.clear();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
  }
}
