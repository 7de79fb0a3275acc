import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A TCP proxy in front of a Redis server that can lose replies, the way a connection that
 * breaks at the wrong moment does: after `holdReplies()` the commands still reach Redis and
 * run, but what Redis answers is kept back; `dropConnections()` then closes every
 * connection, so those answers never arrive. A client that sends its unanswered commands
 * again when it reconnects (ioredis does) runs them a second time.
 */
export class ReplyDropper {
  private holding = false;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(upstreamUrl: string): Promise<ReplyDropper> {
    const upstream = new URL(upstreamUrl);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dropper = new ReplyDropper(server, (server.address() as AddressInfo).port);
    server.on('connection', (client) => dropper.pipe(client, upstream.hostname, Number(upstream.port)));
    return dropper;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** From now on, what Redis answers is kept back from the client. */
  holdReplies(): void {
    this.holding = true;
  }

  /** Closes every connection (the held replies are lost) and passes replies through again. */
  dropConnections(): void {
    this.holding = false;
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pipe(client: Socket, host: string, port: number): void {
    const redis = connect(port, host);
    this.sockets.add(client).add(redis);
    client.on('data', (chunk) => redis.write(chunk));
    // Held replies are never sent: the connection is closed before it would pass them on.
    redis.on('data', (chunk) => {
      if (!this.holding) client.write(chunk);
    });
    const close = () => {
      client.destroy();
      redis.destroy();
      this.sockets.delete(client);
      this.sockets.delete(redis);
    };
    for (const socket of [client, redis]) {
      socket.on('close', close);
      socket.on('error', close);
    }
  }
}
