import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';
import { type OpenApiDocument, SURFACE_PAGES } from '@baton/core';
import { allow } from '../http/errors.ts';

/** The repository's `docs/surfaces`, which the document links to. */
export const SURFACES_DIR = fileURLToPath(new URL('../../../../docs/surfaces/', import.meta.url));

/** The pages of `SURFACE_PAGES` found in `dir`, read once; a missing one is not served (404). */
function readSurfacePages(dir: string): Map<string, string> {
  const pages = new Map<string, string>();
  for (const page of SURFACE_PAGES) {
    try {
      pages.set(page, readFileSync(path.join(dir, page), 'utf8'));
    } catch {
      // Not shipped (e.g. an image built without docs/): the link answers 404.
    }
  }
  return pages;
}

/** Where the `swagger-ui-dist` package's files are, or null when it is not installed. */
export function swaggerUiDir(): string | null {
  try {
    return path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  } catch {
    return null;
  }
}

/**
 * `GET /openapi.json` (the document) and `GET /docs` (Swagger UI, served from the
 * `swagger-ui-dist` package under `/docs/assets`: no internet needed), and the
 * `docs/surfaces` pages the document links to (`/docs/surfaces/{page}`, as text). Public,
 * like `/health`. Without the package, or if its script fails to load, `/docs` lists the
 * operations itself and links the raw document.
 */
export function docsRoutes(document: OpenApiDocument, assets: string | null = swaggerUiDir(), surfacesDir = SURFACES_DIR): Router {
  const router = Router();
  const pages = readSurfacePages(surfacesDir);
  const json = JSON.stringify(document);
  router
    .route('/openapi.json')
    .get((_req, res) => {
      res.type('application/json').send(json);
    })
    .all(allow('GET'));
  router
    .route('/docs')
    .get((_req, res) => {
      res.type('html').send(assets ? SWAGGER_PAGE : FALLBACK_PAGE);
    })
    .all(allow('GET'));
  if (assets) router.use('/docs/assets', express.static(assets, { index: false, maxAge: '1h' }));
  router
    .route('/docs/surfaces/:page')
    .get((req, res, next) => {
      const text = pages.get(req.params.page);
      if (text === undefined) return next(); // 404 route_not_found
      res.set('x-content-type-options', 'nosniff').type('text/plain; charset=utf-8').send(text);
    })
    .all(allow('GET'));
  return router;
}

const HEAD = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Baton API reference</title>`;

/** Lists the operations of /openapi.json without any library. */
const FALLBACK_SCRIPT = `<script>
function batonFallback() {
  var root = document.getElementById('swagger-ui');
  root.innerHTML = '<h1>Baton API</h1><p>The interactive viewer is not available; the document is at <a href="/openapi.json">/openapi.json</a>.</p><ul id="ops"></ul>';
  fetch('/openapi.json').then(function (r) { return r.json(); }).then(function (doc) {
    var list = document.getElementById('ops');
    Object.keys(doc.paths).forEach(function (p) {
      Object.keys(doc.paths[p]).forEach(function (m) {
        var li = document.createElement('li');
        li.textContent = m.toUpperCase() + ' ' + p + ' — ' + (doc.paths[p][m].summary || '');
        list.appendChild(li);
      });
    });
  });
}
</script>`;

const SWAGGER_PAGE = `${HEAD}
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
${FALLBACK_SCRIPT}
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>
if (typeof SwaggerUIBundle === 'function') {
  window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, validatorUrl: null });
} else {
  batonFallback();
}
</script>
</body>
</html>
`;

const FALLBACK_PAGE = `${HEAD}
</head>
<body>
<div id="swagger-ui"></div>
${FALLBACK_SCRIPT}
<script>batonFallback();</script>
</body>
</html>
`;
