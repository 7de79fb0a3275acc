import { describe, expect, it } from 'vitest';
import { ApiEnv, ConfigError, StartEnv, WorkerEnv, parseEnv } from './config.ts';

/** Runs `fn`, expects a ConfigError and returns its message. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).name).toBe('ConfigError');
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError, but parsing succeeded');
}

describe('parseEnv(ApiEnv)', () => {
  it('fills in the documented defaults for an empty environment', () => {
    const env = parseEnv(ApiEnv, {});
    expect(env).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      BATON_PREFIX: 'baton',
      LOG_LEVEL: 'info',
      RUNNING_GRACE_MS: 10_000,
      AGENT: 'echo',
      ECHO_DELAY_MS: 0,
      PORT: 3000,
      HOST: '0.0.0.0',
      BODY_LIMIT: '1mb',
      LONG_POLL_MAX_S: 300,
      LONG_POLL_DEFAULT_S: 300,
      MAX_SESSIONS: 0,
      PAGE_LIMIT_MAX: 200,
    });
    expect(env.OPENAI_API_KEY).toBeUndefined();
    expect(env.HTTP_AGENT_URL).toBeUndefined();
  });

  it('coerces numeric strings to numbers', () => {
    const env = parseEnv(ApiEnv, { PORT: '8080', MAX_SESSIONS: '5', LONG_POLL_MAX_S: '2.5', RUNNING_GRACE_MS: '250' });
    expect(env.PORT).toBe(8080);
    expect(env.MAX_SESSIONS).toBe(5);
    expect(env.LONG_POLL_MAX_S).toBe(2.5);
    expect(env.RUNNING_GRACE_MS).toBe(250);
  });

  it('rejects a bad value with a ConfigError that names the variable', () => {
    const message = configError(() => parseEnv(ApiEnv, { PORT: 'eighty' }));
    expect(message).toMatch(/^Invalid configuration:/);
    expect(message).toMatch(/^ {2}PORT: /m);
    expect(message).not.toMatch(/LONG_POLL|REDIS_URL/);
  });

  it('names every bad variable in one error', () => {
    const message = configError(() =>
      parseEnv(ApiEnv, { PORT: '1.5', LONG_POLL_MAX_S: '-1', BATON_PREFIX: 'has space', LOG_LEVEL: 'loud' }),
    );
    for (const name of ['PORT', 'LONG_POLL_MAX_S', 'BATON_PREFIX', 'LOG_LEVEL']) {
      expect(message).toMatch(new RegExp(`^  ${name}: `, 'm'));
    }
    expect(message).toContain('letters, digits, _ . - only');
  });

  it('enforces minimums (RUNNING_GRACE_MS >= 100, PAGE_LIMIT_MAX >= 1)', () => {
    expect(configError(() => parseEnv(ApiEnv, { RUNNING_GRACE_MS: '99' }))).toMatch(/^ {2}RUNNING_GRACE_MS: /m);
    expect(configError(() => parseEnv(ApiEnv, { PAGE_LIMIT_MAX: '0' }))).toMatch(/^ {2}PAGE_LIMIT_MAX: /m);
    expect(parseEnv(ApiEnv, { RUNNING_GRACE_MS: '100', PAGE_LIMIT_MAX: '1' })).toMatchObject({
      RUNNING_GRACE_MS: 100,
      PAGE_LIMIT_MAX: 1,
    });
  });

  it('treats empty strings as unset, so defaults apply', () => {
    const env = parseEnv(ApiEnv, { PORT: '', LONG_POLL_MAX_S: '', LONG_POLL_DEFAULT_S: '', BATON_PREFIX: '', OPENAI_BASE_URL: '' });
    expect(env.PORT).toBe(3000);
    expect(env.LONG_POLL_MAX_S).toBe(300);
    expect(env.LONG_POLL_DEFAULT_S).toBe(300);
    expect(env.BATON_PREFIX).toBe('baton');
    // An empty optional URL would fail z.url() if it were not dropped first.
    expect(env.OPENAI_BASE_URL).toBeUndefined();
  });

  it('ignores variables it does not know (process.env holds many)', () => {
    const env = parseEnv(ApiEnv, { PATH: '/usr/bin', HOME: '/root', PORT: '1' });
    expect(env.PORT).toBe(1);
    expect(env).not.toHaveProperty('PATH');
  });

  describe('long-poll cross-field rules', () => {
    it('rejects LONG_POLL_DEFAULT_S greater than LONG_POLL_MAX_S', () => {
      const message = configError(() => parseEnv(ApiEnv, { LONG_POLL_DEFAULT_S: '90', LONG_POLL_MAX_S: '60' }));
      expect(message).toContain('LONG_POLL_DEFAULT_S: LONG_POLL_DEFAULT_S must not exceed LONG_POLL_MAX_S');
    });

    it('rejects LONG_POLL_DEFAULT_S above the default maximum of 300', () => {
      expect(configError(() => parseEnv(ApiEnv, { LONG_POLL_DEFAULT_S: '301' }))).toMatch(/^ {2}LONG_POLL_DEFAULT_S: /m);
    });

    it('accepts LONG_POLL_DEFAULT_S equal to LONG_POLL_MAX_S', () => {
      const env = parseEnv(ApiEnv, { LONG_POLL_DEFAULT_S: '20', LONG_POLL_MAX_S: '20' });
      expect(env.LONG_POLL_DEFAULT_S).toBe(20);
      expect(env.LONG_POLL_MAX_S).toBe(20);
    });

    it('lets an unset default follow LONG_POLL_MAX_S: a wait without timeout holds until the turn ends or the maximum', () => {
      expect(parseEnv(ApiEnv, { LONG_POLL_MAX_S: '10' })).toMatchObject({ LONG_POLL_MAX_S: 10, LONG_POLL_DEFAULT_S: 10 });
      expect(parseEnv(ApiEnv, { LONG_POLL_MAX_S: '600' })).toMatchObject({ LONG_POLL_MAX_S: 600, LONG_POLL_DEFAULT_S: 600 });
    });

    it('keeps an explicit default below the maximum', () => {
      expect(parseEnv(ApiEnv, { LONG_POLL_DEFAULT_S: '5' })).toMatchObject({ LONG_POLL_MAX_S: 300, LONG_POLL_DEFAULT_S: 5 });
    });

    it('rejects a non-positive LONG_POLL_DEFAULT_S', () => {
      expect(configError(() => parseEnv(ApiEnv, { LONG_POLL_DEFAULT_S: '0' }))).toMatch(/^ {2}LONG_POLL_DEFAULT_S: /m);
    });
  });

  describe('Redis durability settings', () => {
    it('defaults: eviction refused, no WAIT', () => {
      expect(parseEnv(ApiEnv, {})).toMatchObject({ REDIS_ALLOW_EVICTION: false, REDIS_WAIT_REPLICAS: 0, REDIS_WAIT_TIMEOUT_MS: 1000 });
      expect(parseEnv(WorkerEnv, { REDIS_ALLOW_EVICTION: 'true' }).REDIS_ALLOW_EVICTION).toBe(true);
    });

    it('rejects REDIS_WAIT_TIMEOUT_MS=0 with REDIS_WAIT_REPLICAS set: WAIT 0 would block for ever', () => {
      const message = configError(() => parseEnv(ApiEnv, { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '0' }));
      expect(message).toMatch(/^ {2}REDIS_WAIT_TIMEOUT_MS: must be at least 1 when REDIS_WAIT_REPLICAS is set/m);
    });

    it('accepts a timeout of 0 while WAIT is off, and any positive timeout with it on', () => {
      expect(parseEnv(ApiEnv, { REDIS_WAIT_TIMEOUT_MS: '0' }).REDIS_WAIT_TIMEOUT_MS).toBe(0);
      expect(parseEnv(ApiEnv, { REDIS_WAIT_REPLICAS: '2', REDIS_WAIT_TIMEOUT_MS: '250' })).toMatchObject({ REDIS_WAIT_REPLICAS: 2, REDIS_WAIT_TIMEOUT_MS: 250 });
    });

    it('rejects a negative replica count', () => {
      expect(configError(() => parseEnv(ApiEnv, { REDIS_WAIT_REPLICAS: '-1' }))).toMatch(/^ {2}REDIS_WAIT_REPLICAS: /m);
    });
  });

  describe('SESSION_TTL_S', () => {
    it('is unset by default (sessions are kept for ever) and takes whole seconds', () => {
      expect(parseEnv(ApiEnv, {}).SESSION_TTL_S).toBeUndefined();
      expect(parseEnv(ApiEnv, { SESSION_TTL_S: '' }).SESSION_TTL_S).toBeUndefined();
      expect(parseEnv(ApiEnv, { SESSION_TTL_S: '2' }).SESSION_TTL_S).toBe(2);
      expect(parseEnv(ApiEnv, { SESSION_TTL_S: '86400' }).SESSION_TTL_S).toBe(86_400);
    });

    it.each(['abc', '-5', '1.5', '0', 'Infinity', '1e12'])('refuses %j with an error naming SESSION_TTL_S and saying what it takes', (value) => {
      const message = configError(() => parseEnv(ApiEnv, { SESSION_TTL_S: value }));
      expect(message).toMatch(/^ {2}SESSION_TTL_S: must be a whole number of seconds from 1 to 315360000 \(unset it to keep sessions for ever\)$/m);
      // Only the bad variable is named.
      expect(message.trim().split('\n')).toHaveLength(2);
    });
  });

  it('rejects an ADMIN_KEY that is also one of API_KEYS (that tenant would see every session)', () => {
    const message = configError(() => parseEnv(ApiEnv, { API_KEYS: 'tenant-a-key,admin-key-1', ADMIN_KEY: 'admin-key-1' }));
    expect(message).toContain('ADMIN_KEY: ADMIN_KEY must differ from every key in API_KEYS');
    expect(parseEnv(ApiEnv, { API_KEYS: 'tenant-a-key', ADMIN_KEY: 'admin-key-1' }).ADMIN_KEY).toBe('admin-key-1');
  });
});

describe('parseEnv(WorkerEnv)', () => {
  it('fills in the documented defaults', () => {
    expect(parseEnv(WorkerEnv, {})).toMatchObject({
      WORKER_CONCURRENCY: 16,
      TURN_TIMEOUT_MS: 120_000,
      SHUTDOWN_TIMEOUT_MS: 10_000,
      LOCK_DURATION_MS: 5_000,
      STALLED_INTERVAL_MS: 3_000,
      MAX_STALLED_COUNT: 3,
      REAPER_INTERVAL_MS: 2_000,
      REAPER: true,
      RUNNING_GRACE_MS: 10_000,
      BATON_PREFIX: 'baton',
    });
  });

  it('checks WORKER_SHARDS against the shard count, and the shard counts\' range', () => {
    expect(parseEnv(WorkerEnv, { TURN_QUEUE_SHARDS: '16', WORKER_SHARDS: '0-7' })).toMatchObject({ WORKER_SHARDS: '0-7', TURN_QUEUE_SHARDS: 16 });
    expect(configError(() => parseEnv(WorkerEnv, { WORKER_SHARDS: '0-3' }))).toMatch(/^ {2}WORKER_SHARDS: "0-3": shards are numbered 0 to 0$/m);
    expect(configError(() => parseEnv(WorkerEnv, { TURN_QUEUE_SHARDS: '4', WORKER_SHARDS: 'a' }))).toMatch(/^ {2}WORKER_SHARDS: "a" is not a shard number/m);
    expect(configError(() => parseEnv(WorkerEnv, { TURN_QUEUE_SHARDS: '0', WEBHOOK_QUEUE_SHARDS: '300' }))).toMatch(
      /^ {2}TURN_QUEUE_SHARDS: [^\n]*\n {2}WEBHOOK_QUEUE_SHARDS: /m,
    );
  });

  it('has no API-only variables', () => {
    const env = parseEnv(WorkerEnv, { PORT: '1234' });
    expect(env).not.toHaveProperty('PORT');
    expect(env).not.toHaveProperty('LONG_POLL_DEFAULT_S');
  });

  it.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ])('reads REAPER=%s as %s', (raw, expected) => {
    expect(parseEnv(WorkerEnv, { REAPER: raw }).REAPER).toBe(expected);
  });

  it('treats an empty REAPER as unset (default true)', () => {
    expect(parseEnv(WorkerEnv, { REAPER: '' }).REAPER).toBe(true);
  });

  it('rejects a boolean it does not recognise, naming the variable', () => {
    expect(configError(() => parseEnv(WorkerEnv, { REAPER: 'yes' }))).toMatch(/^ {2}REAPER: /m);
  });

  it('rejects WORKER_CONCURRENCY below 1', () => {
    expect(configError(() => parseEnv(WorkerEnv, { WORKER_CONCURRENCY: '0' }))).toMatch(/^ {2}WORKER_CONCURRENCY: /m);
  });

  describe('STALLED_INTERVAL_MS rule', () => {
    it('accepts STALLED_INTERVAL_MS of exactly 10x LOCK_DURATION_MS', () => {
      const env = parseEnv(WorkerEnv, { LOCK_DURATION_MS: '100', STALLED_INTERVAL_MS: '1000' });
      expect(env).toMatchObject({ LOCK_DURATION_MS: 100, STALLED_INTERVAL_MS: 1000 });
    });

    it('rejects STALLED_INTERVAL_MS above 10x LOCK_DURATION_MS', () => {
      const message = configError(() => parseEnv(WorkerEnv, { LOCK_DURATION_MS: '100', STALLED_INTERVAL_MS: '1001' }));
      expect(message).toContain('STALLED_INTERVAL_MS: STALLED_INTERVAL_MS should be within 10× LOCK_DURATION_MS');
    });

    it('applies the rule against the default LOCK_DURATION_MS (5 s)', () => {
      expect(parseEnv(WorkerEnv, { STALLED_INTERVAL_MS: '50000' }).STALLED_INTERVAL_MS).toBe(50_000);
      expect(configError(() => parseEnv(WorkerEnv, { STALLED_INTERVAL_MS: '50001' }))).toMatch(/^ {2}STALLED_INTERVAL_MS: /m);
    });
  });
});

describe('parseEnv(StartEnv) (npm start)', () => {
  it('defaults the private Redis to appendfsync everysec and takes always', () => {
    expect(parseEnv(StartEnv, {}).REDIS_APPENDFSYNC).toBe('everysec');
    expect(parseEnv(StartEnv, { REDIS_APPENDFSYNC: 'always', REDIS_PORT: '7001' })).toMatchObject({ REDIS_APPENDFSYNC: 'always', REDIS_PORT: 7001 });
  });

  it('rejects an appendfsync Redis does not know, naming the variable', () => {
    expect(configError(() => parseEnv(StartEnv, { REDIS_APPENDFSYNC: 'sometimes' }))).toMatch(/^ {2}REDIS_APPENDFSYNC: /m);
  });
});
