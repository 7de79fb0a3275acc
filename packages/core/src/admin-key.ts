import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Checks the `Authorization` header against `ADMIN_KEY` (Bull Board, `/metrics`):
 * `Bearer <key>`, or HTTP Basic with the key as password and any user name, so a
 * browser's login prompt works. Compared in constant time.
 */
export function adminKeyCheck(adminKey: string): (authorization: string | undefined) => boolean {
  const expected = digest(adminKey);
  return (authorization) => {
    const presented = presentedKey(authorization ?? '');
    // Always compare (an empty digest when nothing was presented): no early exit.
    const ok = timingSafeEqual(expected, digest(presented ?? ''));
    return ok && presented !== null;
  };
}

/** The `WWW-Authenticate` header that makes browsers ask for the admin key. */
export const ADMIN_CHALLENGE = 'Basic realm="Baton admin", charset="UTF-8"';

function presentedKey(header: string): string | null {
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer) return bearer[1]!.trim();
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return null;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
