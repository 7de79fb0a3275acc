import { createHmac, timingSafeEqual } from 'node:crypto';
import type { TurnEventPayload } from './types.ts';

/**
 * `@baton/client/webhooks`: verifies Baton's webhooks in Node (Standard Webhooks,
 * https://www.standardwebhooks.com/: `webhook-signature: v1,<base64 HMAC-SHA256(key,
 * "<id>.<timestamp>.<body>")>`, one entry per secret). A subpath of its own because it uses
 * `node:crypto`: the main entry needs only `fetch` and runs in browsers too. The same checks
 * as the server's `verifyWebhook` (`@baton/webhooks`), which `webhooks.test.ts` signs with.
 */

export type WebhookVerificationCode = 'missing_headers' | 'timestamp_out_of_tolerance' | 'bad_signature';

export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  constructor(
    readonly code: WebhookVerificationCode,
    message: string,
  ) {
    super(message);
  }
}

/** Node's `req.headers`, or any record of header names to values. */
export type IncomingHeaders = Record<string, string | string[] | undefined>;

export interface VerifiedWebhook {
  /** The `webhook-id`: the same on every retry and redelivery; de-duplicate on it. */
  id: string;
  /** `webhook-timestamp`, unix seconds. */
  timestamp: number;
  /** The parsed body. */
  payload: TurnEventPayload;
}

const DEFAULT_TOLERANCE_S = 300;
const SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;

/**
 * Verifies a Baton webhook (signature, and a timestamp within `toleranceS`, default 5
 * minutes) over the raw body and returns its parsed event. `headers` may be Node's
 * `req.headers` or a fetch `Headers`; `secret` one `whsec_…` secret, several
 * space-separated ones, or a list (while rotating). Throws a WebhookVerificationError
 * (`code`: `missing_headers`, `timestamp_out_of_tolerance`, `bad_signature`), or an Error
 * when a secret is not `whsec_<base64>`.
 */
export function verify(
  body: string | Uint8Array,
  headers: IncomingHeaders | Headers,
  secret: string | string[],
  options: { toleranceS?: number; now?: () => number } = {},
): VerifiedWebhook {
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const keys = (Array.isArray(secret) ? secret : [secret])
    .flatMap((s) => s.split(/[\s,]+/))
    .filter(Boolean)
    .map(secretKey);
  if (keys.length === 0) throw new Error('at least one webhook secret is required');
  const get = (name: string) => headerValues(headers, name);
  const id = get('webhook-id')[0];
  const timestampText = get('webhook-timestamp')[0]?.trim();
  const signatures = get('webhook-signature').join(' ').split(' ').filter(Boolean);
  if (!id || !timestampText || signatures.length === 0) {
    throw new WebhookVerificationError('missing_headers', 'webhook-id, webhook-timestamp and webhook-signature headers are required');
  }
  if (!/^\d{1,15}$/.test(timestampText)) {
    throw new WebhookVerificationError('missing_headers', 'webhook-timestamp must be an integer of unix seconds');
  }
  const timestamp = Number(timestampText);
  const toleranceS = options.toleranceS ?? DEFAULT_TOLERANCE_S;
  if (Math.abs(Math.floor((options.now ?? Date.now)() / 1000) - timestamp) > toleranceS) {
    throw new WebhookVerificationError('timestamp_out_of_tolerance', `webhook-timestamp is more than ${toleranceS}s away from now`);
  }
  const expected = keys.map((key) => createHmac('sha256', key).update(`${id}.${timestamp}.${text}`, 'utf8').digest());
  let matched = false;
  // Every pair is compared (no early exit), so timing does not tell which secret matched.
  for (const entry of signatures) {
    if (!entry.startsWith('v1,')) continue;
    const candidate = Buffer.from(entry.slice(3), 'base64');
    for (const sig of expected) if (candidate.length === sig.length && timingSafeEqual(candidate, sig)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError('bad_signature', 'no webhook-signature matches any secret');
  return { id, timestamp, payload: JSON.parse(text) as TurnEventPayload };
}

/** The HMAC key of a `whsec_<base64>` secret; the error does not echo the secret. */
function secretKey(secret: string): Buffer {
  const match = SECRET.exec(secret);
  const key = match ? Buffer.from(match[1]!, 'base64') : Buffer.alloc(0);
  if (key.length === 0) throw new Error('a webhook secret must be "whsec_" followed by a non-empty base64 key');
  return key;
}

function headerValues(headers: IncomingHeaders | Headers, name: string): string[] {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).entries === 'function') {
    const value = (headers as Headers).get(name);
    return value === null ? [] : [value];
  }
  const values: string[] = [];
  for (const [key, value] of Object.entries(headers as IncomingHeaders)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    values.push(...(Array.isArray(value) ? value : [value]));
  }
  return values;
}
