import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { Delivery } from '@baton/store';
import type { SendResult } from '@baton/webhooks';
import { record, requestHeaders } from './deliver.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OTHER = 'whsec_dGVzdC1zZWNyZXQtdHdv';
const SCHEDULE = [0, 5_000, 300_000];
const NOW = Date.UTC(2026, 0, 1);
const exact = { schedule: SCHEDULE, random: () => 0.5 };

function delivery(extra: Partial<Delivery> = {}): Delivery {
  return {
    id: 't1.m',
    webhook_id: 'msg_t1',
    session_id: 's1',
    turn_id: 't1',
    type: 'turn.completed',
    target: 'message',
    url: 'https://example.com/hook',
    body: JSON.stringify({ type: 'turn.completed', turn_id: 't1' }),
    status: 'pending',
    attempts: [],
    schedule_base: 0,
    redeliveries: 0,
    next_attempt_at: null,
    created_at: new Date(NOW).toISOString(),
    ...extra,
  };
}

function result(statusCode: number | null, extra: Partial<SendResult> = {}): SendResult {
  return { statusCode, latencyMs: 12, retryAfterMs: null, responseBody: '', error: statusCode ? null : 'ECONNREFUSED', errorCode: null, ...extra };
}

describe('record', () => {
  it('marks a 2xx delivered and logs the attempt', () => {
    const d = delivery();
    expect(record(d, result(204), exact, NOW)).toEqual({ status: 'delivered', delay: null });
    expect(d.attempts).toEqual([{ at: new Date(NOW - 12).toISOString(), status_code: 204, latency_ms: 12, error: null }]);
    expect(d.next_attempt_at).toBeNull();
  });

  it('retries a 500, a 302 and a connection error on the schedule, then dead-letters', () => {
    const d = delivery();
    expect(record(d, result(500), exact, NOW)).toEqual({ status: 'pending', delay: 5_000 });
    expect(d.next_attempt_at).toBe(new Date(NOW + 5_000).toISOString());
    expect(record(d, result(302), exact, NOW)).toEqual({ status: 'pending', delay: 300_000 });
    expect(record(d, result(null), exact, NOW)).toEqual({ status: 'dead', delay: null });
    expect(d.attempts.map((a) => a.status_code)).toEqual([500, 302, null]);
  });

  it('applies jitter to the scheduled delay', () => {
    expect(record(delivery(), result(500), { schedule: SCHEDULE, random: () => 0 }, NOW).delay).toBe(4_500);
    expect(record(delivery(), result(500), { schedule: SCHEDULE, random: () => 1 }, NOW).delay).toBe(5_500);
  });

  it('stops at a 410 and at a refused address', () => {
    expect(record(delivery(), result(410), exact, NOW)).toEqual({ status: 'failed', delay: null });
    const blocked = result(null, { error: 'blocked: 127.0.0.1 is loopback', errorCode: 'EBLOCKED' });
    expect(record(delivery(), blocked, exact, NOW)).toEqual({ status: 'failed', delay: null });
  });

  it('waits at least Retry-After on 429 and 503, but not on other statuses', () => {
    expect(record(delivery(), result(429, { retryAfterMs: 60_000 }), exact, NOW).delay).toBe(60_000);
    expect(record(delivery(), result(503, { retryAfterMs: 60_000 }), exact, NOW).delay).toBe(60_000);
    // A Retry-After shorter than the schedule does not hurry the retry.
    expect(record(delivery(), result(429, { retryAfterMs: 1_000 }), exact, NOW).delay).toBe(5_000);
    expect(record(delivery(), result(500, { retryAfterMs: 60_000 }), exact, NOW).delay).toBe(5_000);
  });

  it('runs the schedule again from its start after a redelivery', () => {
    const d = delivery({ status: 'pending', attempts: [{ at: '', status_code: 500, latency_ms: 1, error: null }], schedule_base: 1 });
    expect(record(d, result(500), exact, NOW)).toEqual({ status: 'pending', delay: 5_000 });
  });
});

describe('requestHeaders', () => {
  it('signs with the server secrets (one signature each) that standardwebhooks verifies', () => {
    const d = delivery();
    const headers = requestHeaders(d, [SECRET, OTHER], NOW);
    expect(headers['webhook-id']).toBe('msg_t1');
    expect(headers['webhook-timestamp']).toBe(String(NOW / 1000));
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(headers['user-agent']).toMatch(/Baton/);
    expect(headers.authorization).toBeUndefined();
    // Verified at the current time (standardwebhooks checks the timestamp's age).
    const fresh = requestHeaders(d, [SECRET, OTHER]);
    for (const secret of [SECRET, OTHER]) expect(new Webhook(secret).verify(d.body, fresh)).toEqual(JSON.parse(d.body));
    // A body changed in transit does not verify.
    expect(() => new Webhook(SECRET).verify(d.body.replace('t1', 't2'), fresh)).toThrow();
  });

  it("uses the webhook's own secret over the server's, and sends its token as a bearer", () => {
    const d = delivery({ secret: OTHER, token: 'tok' });
    const headers = requestHeaders(d, [SECRET]);
    expect(headers.authorization).toBe('Bearer tok');
    expect(new Webhook(OTHER).verify(d.body, headers)).toEqual(JSON.parse(d.body));
    expect(() => new Webhook(SECRET).verify(d.body, headers)).toThrow();
  });

  it('sends no signature when no secret is configured', () => {
    expect(requestHeaders(delivery(), [])['webhook-signature']).toBeUndefined();
  });
});
