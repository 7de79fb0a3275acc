import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Response, Router } from 'express';
import { allow } from '../http/errors.ts';

/** The console's built files (`apps/console/dist`, committed: no build step before `npm start`). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../console/dist/', import.meta.url));

/**
 * The console loads nothing from another origin: its one script and one stylesheet come
 * from here, and it talks only to this API. No inline script or style is allowed.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function secure(res: Response): void {
  res.set({
    'content-security-policy': CONSOLE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  });
}

/**
 * `GET /console/`: the web console (public, like `/docs`: the page holds no data; every call
 * it makes needs a key). `/console` redirects to `/console/` so the page's relative asset
 * paths resolve, behind a proxy's path prefix too. The page is revalidated on every load;
 * `/console/assets/*` are named by their content's hash, so they are cached for a year.
 */
export function consoleRoutes(dir: string = CONSOLE_DIR): Router {
  const router = Router({ strict: true });
  let page: string | null = null;
  try {
    page = readFileSync(join(dir, 'index.html'), 'utf8');
  } catch {
    page = null;
  }
  // Not a route of its own: the same page, at the address its relative paths need.
  router.use((req, res, next) => {
    if (req.path !== '/console' || (req.method !== 'GET' && req.method !== 'HEAD')) return next();
    const query = req.originalUrl.indexOf('?');
    res.redirect(301, `console/${query === -1 ? '' : req.originalUrl.slice(query)}`);
  });
  router
    .route('/console/')
    .get((_req, res) => {
      secure(res);
      if (page === null) {
        res.status(503).type('text/plain').send('The console is not built: run `npm run build:console`.\n');
        return;
      }
      res.set('cache-control', 'no-cache').type('html').send(page);
    })
    .all(allow('GET'));
  router.use(
    '/console/assets',
    express.static(join(dir, 'assets'), {
      index: false,
      redirect: false,
      immutable: true,
      maxAge: '365d',
      setHeaders: (res) => secure(res as unknown as Response),
    }),
  );
  return router;
}
