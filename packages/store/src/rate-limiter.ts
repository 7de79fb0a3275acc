import type { RedisClient } from './connections.ts';

/**
 * GCRA (a token bucket kept as one timestamp): each request moves the key's
 * "theoretical arrival time" on by 1/rate; a request is refused while that time is more
 * than `burst` requests ahead of now. One key per tenant, shared by every API process;
 * Redis's own clock, so the processes' clocks need not agree.
 * KEYS: the tenant's key   ARGV: interval (µs per request), tolerance (µs)
 * Returns 0 when allowed, else how many ms to wait.
 */
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - tonumber(ARGV[2]) - now
if wait > 0 then return math.ceil(wait / 1000) end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
`;

export class RateLimiter {
  private readonly intervalUs: number;
  private readonly toleranceUs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: { prefix: string; perSecond: number; burst: number },
  ) {
    this.intervalUs = Math.round(1_000_000 / options.perSecond);
    this.toleranceUs = this.intervalUs * options.burst;
    if (!('batonGcra' in redis)) redis.defineCommand('batonGcra', { numberOfKeys: 1, lua: GCRA });
  }

  /** 0 when the request may go ahead, else the ms to wait before the next one would. */
  async take(tenant: string): Promise<number> {
    const call = (this.redis as unknown as { batonGcra: (key: string, interval: number, tolerance: number) => Promise<number> }).batonGcra;
    return call.call(this.redis, `${this.options.prefix}:rate:${tenant}`, this.intervalUs, this.toleranceUs);
  }
}
