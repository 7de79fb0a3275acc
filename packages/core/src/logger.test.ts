import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { makeLogger, wantsPretty } from './logger.ts';

function sink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { stream, lines };
}

describe('makeLogger', () => {
  it('redacts credential headers wherever a request or headers object is logged', async () => {
    const { stream, lines } = sink();
    const logger = await makeLogger({ name: 't', level: 'info' }, stream);
    const headers = { authorization: 'Bearer sk-1', 'x-api-key': 'sk-2', 'x-session-api-key': 'sk-3', cookie: 'c=sk-4', accept: 'text/plain' };
    logger.info({ req: { headers } }, 'a request');
    logger.child({ reqId: 'r1' }).warn({ headers }, 'outgoing');
    const text = lines.join('');
    for (const secret of ['sk-1', 'sk-2', 'sk-3', 'sk-4']) expect(text).not.toContain(secret);
    const [first, second] = lines.map((l) => JSON.parse(l));
    expect(first.req.headers).toEqual({
      authorization: '[Redacted]',
      'x-api-key': '[Redacted]',
      'x-session-api-key': '[Redacted]',
      cookie: '[Redacted]',
      accept: 'text/plain',
    });
    expect(second).toMatchObject({ reqId: 'r1', headers: { authorization: '[Redacted]', accept: 'text/plain' } });
  });
});

describe('wantsPretty', () => {
  it('follows LOG_PRETTY, else pretty only on a terminal outside production', () => {
    expect(wantsPretty({ pretty: true, isTTY: false })).toBe(true);
    expect(wantsPretty({ pretty: false, isTTY: true })).toBe(false);
    expect(wantsPretty({ isTTY: true })).toBe(true);
    expect(wantsPretty({ isTTY: true, nodeEnv: 'production' })).toBe(false);
    expect(wantsPretty({ isTTY: false })).toBe(false);
  });
});
