/**
 * A webhook URL as it may be logged: scheme, host and port, and `/…` in place of any path.
 * Receivers often carry a secret in the path (`/hooks/T0/B0/XXXX`) or the query
 * (`?token=`), so neither is ever logged; the delivery id on the same line finds the
 * whole URL in the session's delivery log (`GET /sessions/{id}/webhooks`).
 */
export function logSafeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(not a URL)';
  }
  const path = parsed.pathname === '/' || parsed.pathname === '' ? '/' : '/…';
  return `${parsed.protocol}//${parsed.host}${path}`;
}
