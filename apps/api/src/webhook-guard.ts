import { isIP } from 'node:net';
import { WebhookUrlError } from '@baton/core';
import { type LookupAll, checkWebhookUrl, resolveWebhookHost } from '@baton/webhooks';

/**
 * Checks a webhook URL when a message or session brings one, so a bad target gets a
 * 422 before anything is queued: http(s) only, no credentials, and (unless
 * `allowPrivate`) no name or address in loopback, private, link-local and similar
 * ranges. Workers check the address again when they connect (DNS may change).
 */
export function makeWebhookUrlCheck(options: { allowPrivate: boolean; lookup?: LookupAll }) {
  return async (url: string, path: string): Promise<void> => {
    const checked = checkWebhookUrl(url);
    if (!checked.ok) {
      if (checked.code === 'webhook_url_invalid' || !options.allowPrivate) throw new WebhookUrlError(checked.code, path, checked.reason);
      return;
    }
    if (options.allowPrivate) return;
    const host = checked.url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host)) return;
    const resolved = await resolveWebhookHost(host, options.lookup);
    // A name that does not resolve now may later (DNS outages are transient): the
    // delivery fails and retries. A name that resolves somewhere refused is refused.
    if (!resolved.ok && resolved.code === 'webhook_url_refused') throw new WebhookUrlError(resolved.code, path, resolved.reason);
  };
}
