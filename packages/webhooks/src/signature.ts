import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com/):
 * `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`,
 * one entry per secret, space-separated, so receivers can rotate secrets.
 */

export const SECRET_PREFIX = 'whsec_';
export const SIGNATURE_VERSION = 'v1';
export const DEFAULT_TOLERANCE_S = 300;

/** The three headers every signed delivery carries. */
export const WEBHOOK_HEADERS = {
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
} as const;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The HMAC key of a `whsec_<base64>` secret. Throws an Error that does not echo the
 * secret (it may be a real one with a typo) when the value is not in that form.
 */
export function secretKey(secret: string): Buffer {
  if (typeof secret !== 'string' || !secret.startsWith(SECRET_PREFIX)) {
    throw new Error(`webhook secret must start with "${SECRET_PREFIX}"`);
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!BASE64.test(encoded)) {
    throw new Error(`webhook secret must be "${SECRET_PREFIX}" followed by base64`);
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) {
    throw new Error(`webhook secret must be "${SECRET_PREFIX}" followed by a non-empty base64 key`);
  }
  return key;
}

function parseSecrets(secrets: string[]): Buffer[] {
  if (secrets.length === 0) throw new Error('at least one webhook secret is required');
  return secrets.map(secretKey);
}

function hmacBase64(key: Buffer, id: string, timestamp: number, body: string): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64');
}

/** The `webhook-signature` header value: `v1,<sig>` per secret, space-separated. */
export function signPayload(input: {
  id: string;
  /** Unix seconds. */
  timestamp: number;
  body: string;
  secrets: string[];
}): string {
  if (!Number.isSafeInteger(input.timestamp) || input.timestamp < 0) {
    throw new Error('webhook timestamp must be a non-negative integer of unix seconds');
  }
  return parseSecrets(input.secrets)
    .map((key) => `${SIGNATURE_VERSION},${hmacBase64(key, input.id, input.timestamp, input.body)}`)
    .join(' ');
}

/** The three Standard Webhooks headers for one delivery attempt. */
export function signedHeaders(input: {
  id: string;
  timestamp: number;
  body: string;
  secrets: string[];
}): Record<(typeof WEBHOOK_HEADERS)[keyof typeof WEBHOOK_HEADERS], string> {
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(input.timestamp),
    'webhook-signature': signPayload(input),
  };
}

/** `whsec_` + base64 of 24 random bytes. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(24).toString('base64');
}

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

export type IncomingHeaders = Record<string, string | string[] | undefined>;

/** All values of a header, matched case-insensitively. */
function headerValues(headers: IncomingHeaders, name: string): string[] {
  const values: string[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    if (Array.isArray(value)) values.push(...value);
    else values.push(value);
  }
  return values;
}

/**
 * Constant-time comparison of two signature strings. The expected length is public
 * (always 44 base64 characters for SHA-256), so a length mismatch may return early;
 * `timingSafeEqual` itself would throw on unequal lengths.
 */
function signaturesEqual(candidate: string, expected: string): boolean {
  const a = Buffer.from(candidate, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/**
 * Verifies a delivery: headers present, timestamp within `toleranceS` of now (both
 * ways), and at least one `v1,` signature made with one of `secrets`.
 * A malformed `webhook-timestamp` counts as `missing_headers`.
 */
export function verifyWebhook(input: {
  headers: IncomingHeaders;
  body: string;
  secrets: string[];
  /** Default 300. */
  toleranceS?: number;
  /** Milliseconds; default `Date.now`. */
  now?: () => number;
}): { id: string; timestamp: number } {
  const keys = parseSecrets(input.secrets);
  const id = headerValues(input.headers, WEBHOOK_HEADERS.id)[0];
  const timestampText = headerValues(input.headers, WEBHOOK_HEADERS.timestamp)[0];
  const signatures = headerValues(input.headers, WEBHOOK_HEADERS.signature)
    .join(' ')
    .split(' ')
    .filter((part) => part !== '');
  if (!id || !timestampText || signatures.length === 0) {
    throw new WebhookVerificationError(
      'missing_headers',
      'webhook-id, webhook-timestamp and webhook-signature headers are required',
    );
  }
  if (!/^\d{1,15}$/.test(timestampText.trim())) {
    throw new WebhookVerificationError('missing_headers', 'webhook-timestamp must be an integer of unix seconds');
  }
  const timestamp = Number(timestampText.trim());

  const toleranceS = input.toleranceS ?? DEFAULT_TOLERANCE_S;
  const nowS = Math.floor((input.now ?? Date.now)() / 1000);
  if (Math.abs(nowS - timestamp) > toleranceS) {
    throw new WebhookVerificationError(
      'timestamp_out_of_tolerance',
      `webhook-timestamp is more than ${toleranceS}s away from now`,
    );
  }

  const expected = keys.map((key) => hmacBase64(key, id, timestamp, input.body));
  const candidates = signatures
    .filter((entry) => entry.startsWith(`${SIGNATURE_VERSION},`))
    .map((entry) => entry.slice(SIGNATURE_VERSION.length + 1));
  // Compare every pair (no early exit) so timing does not reveal which secret matched.
  let matched = false;
  for (const candidate of candidates) {
    for (const sig of expected) {
      if (signaturesEqual(candidate, sig)) matched = true;
    }
  }
  if (!matched) {
    throw new WebhookVerificationError('bad_signature', 'no webhook-signature matches any secret');
  }
  return { id, timestamp };
}
