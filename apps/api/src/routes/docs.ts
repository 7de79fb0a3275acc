import { createRequire } from 'node:module';
import path from 'node:path';
import express, { Router } from 'express';
import type { OpenApiDocument } from '@baton/core';
import { allow } from '../http/errors.ts';

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
 * `swagger-ui-dist` package under `/docs/assets`: no internet needed). Public, like
 * `/health`. Without the package, or if its script fails to load, `/docs` lists the
 * operations itself and links the raw document.
 */
export function docsRoutes(document: OpenApiDocument, assets: string | null = swaggerUiDir()): Router {
  const router = Router();
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
