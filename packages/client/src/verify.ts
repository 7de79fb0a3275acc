import { type IncomingHeaders, verifyWebhook } from '@baton/webhooks';
import type { TurnEventPayload } from './types.ts';

export { WebhookVerificationError, verifyWebhook, type WebhookVerificationCode } from '@baton/webhooks';

export interface VerifiedWebhook {
  /** The `webhook-id`: the same on every retry and redelivery; de-duplicate on it. */
  id: string;
  /** `webhook-timestamp`, unix seconds. */
  timestamp: number;
  /** The parsed body. */
  payload: TurnEventPayload;
}

/**
 * Verifies a Baton webhook (Standard Webhooks signature, timestamp within 5 minutes)
 * over the raw body and returns its parsed event. `headers` may be Node's
 * `req.headers` or a fetch `Headers`; `secret` one `whsec_…` secret, several
 * space-separated ones, or a list (while rotating). Throws a WebhookVerificationError
 * (`code`: `missing_headers`, `timestamp_out_of_tolerance`, `bad_signature`).
 */
export function verify(
  body: string | Uint8Array,
  headers: IncomingHeaders | Headers,
  secret: string | string[],
  options: { toleranceS?: number } = {},
): VerifiedWebhook {
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const plain: IncomingHeaders = headers instanceof Headers ? Object.fromEntries(headers.entries()) : headers;
  const secrets = (Array.isArray(secret) ? secret : [secret]).flatMap((s) => s.split(/[\s,]+/)).filter(Boolean);
  const verified = verifyWebhook({
    headers: plain,
    body: text,
    secrets,
    ...(options.toleranceS === undefined ? {} : { toleranceS: options.toleranceS }),
  });
  return { ...verified, payload: JSON.parse(text) as TurnEventPayload };
}
