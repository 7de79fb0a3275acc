import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  WebhookVerificationError,
  generateSecret,
  secretKey,
  signPayload,
  signedHeaders,
  verifyWebhook,
} from './signature.ts';

const SECRET_A = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SECRET_B = generateSecret();
const BODY = JSON.stringify({ type: 'turn.completed', session_id: 's_1', turn_id: 't_1' });

function nowS(): number {
  return Math.floor(Date.now() / 1000);
}

function verificationError(fn: () => unknown): WebhookVerificationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookVerificationError);
    return err as WebhookVerificationError;
  }
  throw new Error('expected a WebhookVerificationError');
}

describe('signPayload', () => {
  it('matches the Standard Webhooks HMAC over "id.timestamp.body" with the base64-decoded key', () => {
    const key = Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64');
    const expected = createHmac('sha256', key).update(`msg_1.1700000000.${BODY}`).digest('base64');
    expect(signPayload({ id: 'msg_1', timestamp: 1700000000, body: BODY, secrets: [SECRET_A] })).toBe(`v1,${expected}`);
  });

  it('is verified by the independent standardwebhooks package', () => {
    const headers = signedHeaders({ id: 'msg_2', timestamp: nowS(), body: BODY, secrets: [SECRET_A] });
    expect(new Webhook(SECRET_A).verify(BODY, headers)).toEqual(JSON.parse(BODY));
  });

  it('agrees byte for byte with standardwebhooks.sign', () => {
    const ts = nowS();
    const ours = signPayload({ id: 'msg_3', timestamp: ts, body: BODY, secrets: [SECRET_B] });
    expect(ours).toBe(new Webhook(SECRET_B).sign('msg_3', new Date(ts * 1000), BODY));
  });

  it('signs once per secret for rotation, and each signature verifies on its own', () => {
    const ts = nowS();
    const header = signPayload({ id: 'msg_4', timestamp: ts, body: BODY, secrets: [SECRET_A, SECRET_B] });
    const parts = header.split(' ');
    expect(parts).toHaveLength(2);
    expect(parts.every((p) => p.startsWith('v1,'))).toBe(true);
    for (const secret of [SECRET_A, SECRET_B]) {
      // Both halves of the rotation accept the combined header ...
      const headers = { 'webhook-id': 'msg_4', 'webhook-timestamp': String(ts), 'webhook-signature': header };
      expect(new Webhook(secret).verify(BODY, headers)).toEqual(JSON.parse(BODY));
    }
    // ... and each single signature belongs to exactly its own secret.
    const [sigA, sigB] = parts as [string, string];
    const only = (sig: string) => ({ 'webhook-id': 'msg_4', 'webhook-timestamp': String(ts), 'webhook-signature': sig });
    expect(new Webhook(SECRET_A).verify(BODY, only(sigA))).toBeTruthy();
    expect(new Webhook(SECRET_B).verify(BODY, only(sigB))).toBeTruthy();
    expect(() => new Webhook(SECRET_A).verify(BODY, only(sigB))).toThrow();
    expect(() => new Webhook(SECRET_B).verify(BODY, only(sigA))).toThrow();
  });

  it('throws a clear error for a secret that is not whsec_<base64>, without echoing it', () => {
    const sign = (secret: string) => () => signPayload({ id: 'm', timestamp: 1, body: '', secrets: [secret] });
    expect(sign('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow(/must start with "whsec_"/);
    expect(sign('whsec_')).toThrow(/followed by base64/);
    expect(sign('whsec_not base64!')).toThrow(/followed by base64/);
    expect(sign('whsec_not base64!')).not.toThrow(/not base64!/);
    expect(() => signPayload({ id: 'm', timestamp: 1, body: '', secrets: [] })).toThrow(/at least one/);
  });

  it('refuses a timestamp that is not an integer of seconds', () => {
    expect(() => signPayload({ id: 'm', timestamp: 1.5, body: '', secrets: [SECRET_A] })).toThrow(/unix seconds/);
  });
});

describe('generateSecret', () => {
  it('is whsec_ + base64 of 24 random bytes, usable as a key', () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(secretKey(secret)).toHaveLength(24);
    expect(generateSecret()).not.toBe(secret);
  });
});

describe('verifyWebhook', () => {
  const ts = 1_700_000_000;
  const now = () => ts * 1000 + 500; // mid-second: floors to ts
  const signed = (body = BODY, timestamp = ts, secrets = [SECRET_A]) => ({
    'webhook-id': 'msg_9',
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signPayload({ id: 'msg_9', timestamp, body, secrets }),
  });

  it('accepts a payload signed by the standardwebhooks package', () => {
    const wh = new Webhook(SECRET_A);
    const realTs = nowS();
    const headers = {
      'webhook-id': 'msg_ext',
      'webhook-timestamp': String(realTs),
      'webhook-signature': wh.sign('msg_ext', new Date(realTs * 1000), BODY),
    };
    expect(verifyWebhook({ headers, body: BODY, secrets: [SECRET_A] })).toEqual({ id: 'msg_ext', timestamp: realTs });
  });

  it('reads header names case-insensitively and array values', () => {
    const h = signed();
    const headers = {
      'Webhook-Id': h['webhook-id'],
      'WEBHOOK-TIMESTAMP': [h['webhook-timestamp']],
      'webhook-Signature': ['v1,AAAA', h['webhook-signature']],
    };
    expect(verifyWebhook({ headers, body: BODY, secrets: [SECRET_A], now })).toEqual({ id: 'msg_9', timestamp: ts });
  });

  it('accepts any of several secrets and ignores other signature versions', () => {
    const h = signed(BODY, ts, [SECRET_B]);
    h['webhook-signature'] = `v1a,ignored v2,xyz ${h['webhook-signature']}`;
    expect(verifyWebhook({ headers: h, body: BODY, secrets: [SECRET_A, SECRET_B], now }).id).toBe('msg_9');
  });

  it('rejects a tampered body', () => {
    const err = verificationError(() =>
      verifyWebhook({ headers: signed(), body: BODY.replace('t_1', 't_2'), secrets: [SECRET_A], now }),
    );
    expect(err.code).toBe('bad_signature');
  });

  it('rejects a signature made with another secret, a wrong version or a truncated value', () => {
    const wrongSecret = signed(BODY, ts, [SECRET_B]);
    expect(verificationError(() => verifyWebhook({ headers: wrongSecret, body: BODY, secrets: [SECRET_A], now })).code).toBe(
      'bad_signature',
    );
    const good = signed()['webhook-signature'];
    for (const sig of [good.replace('v1,', 'v2,'), good.slice(0, -4), `${good}AAAA`, 'v1,', 'v1,%%%']) {
      const headers = { ...signed(), 'webhook-signature': sig };
      expect(verificationError(() => verifyWebhook({ headers, body: BODY, secrets: [SECRET_A], now })).code).toBe(
        'bad_signature',
      );
    }
  });

  it('rejects timestamps outside the tolerance, both ways, and accepts the edges', () => {
    const at = (offsetS: number, toleranceS?: number) => () =>
      verifyWebhook({
        headers: signed(BODY, ts + offsetS),
        body: BODY,
        secrets: [SECRET_A],
        now,
        ...(toleranceS === undefined ? {} : { toleranceS }),
      });
    expect(verificationError(at(-301)).code).toBe('timestamp_out_of_tolerance');
    expect(verificationError(at(301)).code).toBe('timestamp_out_of_tolerance');
    expect(at(-300)().timestamp).toBe(ts - 300);
    expect(at(300)().timestamp).toBe(ts + 300);
    expect(verificationError(at(-61, 60)).code).toBe('timestamp_out_of_tolerance');
    expect(at(-3600, 7200)().timestamp).toBe(ts - 3600);
  });

  it('rejects an old timestamp against the real clock by default', () => {
    const headers = signed(BODY, nowS() - 3600);
    expect(verificationError(() => verifyWebhook({ headers, body: BODY, secrets: [SECRET_A] })).code).toBe(
      'timestamp_out_of_tolerance',
    );
  });

  it('rejects missing or malformed headers', () => {
    const full = signed();
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
      const headers: Record<string, string | undefined> = { ...full, [name]: undefined };
      expect(verificationError(() => verifyWebhook({ headers, body: BODY, secrets: [SECRET_A], now })).code).toBe(
        'missing_headers',
      );
    }
    expect(
      verificationError(() =>
        verifyWebhook({ headers: { ...full, 'webhook-timestamp': 'yesterday' }, body: BODY, secrets: [SECRET_A], now }),
      ).code,
    ).toBe('missing_headers');
    expect(verificationError(() => verifyWebhook({ headers: {}, body: BODY, secrets: [SECRET_A], now })).code).toBe(
      'missing_headers',
    );
  });

  it('throws a plain Error (configuration) for a malformed secret', () => {
    expect(() => verifyWebhook({ headers: signed(), body: BODY, secrets: ['nope'], now })).toThrow(/whsec_/);
    expect(() => verifyWebhook({ headers: signed(), body: BODY, secrets: ['nope'], now })).not.toThrow(
      WebhookVerificationError,
    );
  });
});
