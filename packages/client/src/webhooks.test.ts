import { generateSecret, signedHeaders } from '@baton/webhooks';
import { describe, expect, it } from 'vitest';
import { WebhookVerificationError, verify } from './webhooks.ts';

/** The client's own verifier against deliveries signed by the server's signer (`@baton/webhooks`). */

const secret = generateSecret();
const body = JSON.stringify({ type: 'turn.completed', turn_id: 't1', session_id: 's1' });
const now = Math.floor(Date.now() / 1000);
const signed = (secrets = [secret], timestamp = now, text = body) => signedHeaders({ id: 'msg_t1', timestamp, body: text, secrets });

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookVerificationError);
    return (err as WebhookVerificationError).code;
  }
  return 'verified';
}

describe('verify (@baton/client/webhooks)', () => {
  it('accepts what the server signs: record or fetch Headers, one secret or several (rotation), bytes or text', () => {
    expect(verify(body, signed(), secret)).toEqual({ id: 'msg_t1', timestamp: now, payload: JSON.parse(body) });
    const old = generateSecret();
    expect(verify(new TextEncoder().encode(body), new Headers(signed([old])), `${secret} ${old}`).id).toBe('msg_t1');
    expect(verify(body, signed([secret, old]), [old]).id).toBe('msg_t1');
  });

  it('refuses a wrong secret, a changed body, an old timestamp and missing headers, each with its code', () => {
    expect(code(() => verify(body, signed(), generateSecret()))).toBe('bad_signature');
    expect(code(() => verify(body.replace('t1', 't2'), signed(), secret))).toBe('bad_signature');
    expect(code(() => verify(body, signed([secret], now - 301), secret))).toBe('timestamp_out_of_tolerance');
    const { 'webhook-signature': _sig, ...unsigned } = signed();
    expect(code(() => verify(body, unsigned, secret))).toBe('missing_headers');
    expect(code(() => verify(body, { ...signed(), 'webhook-timestamp': 'soon' }, secret))).toBe('missing_headers');
  });

  it('throws a plain Error, without echoing it, for a secret that is not whsec_<base64>', () => {
    expect(() => verify(body, signed(), 'not-a-secret-value')).toThrow(/must be "whsec_" followed by/);
    expect(() => verify(body, signed(), 'not-a-secret-value')).not.toThrow(/not-a-secret-value/);
  });
});
