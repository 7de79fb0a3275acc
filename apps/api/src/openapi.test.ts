import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '@baton/core';
import { type AppDeps, buildApp } from './app.ts';
import { Keyring } from './http/auth.ts';
import { docsRoutes, swaggerUiDir } from './routes/docs.ts';

/**
 * The native API's routes, as registered in Express, against the OpenAPI document: a
 * route added without documenting it (or documented but gone) fails here.
 */

const options = { pageLimitMax: 200, longPollDefaultS: 30, longPollMaxS: 60 };

/** Routes are registered when the app is built; their handlers (and so the deps) run only per request. */
function app(): Express {
  return buildApp({
    logger: pino({ level: 'silent' }),
    bodyLimit: '1mb',
    keyring: new Keyring([]),
    longPoll: { defaultS: options.longPollDefaultS, maxS: options.longPollMaxS },
    pageLimitMax: options.pageLimitMax,
    shutdown: new AbortController().signal,
    // `/ready` and `/metrics` are registered too (their deps are used only per request).
    ops: { canary: {}, metrics: { observe: () => {} }, board: { queues: [], readOnly: true } },
  } as unknown as AppDeps);
}

interface Layer {
  slash: boolean;
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/**
 * `METHOD /path/{}` for every route at the root: the app's own routes and those of routers
 * mounted at `/` (the native API). Surfaces are mounted under their own prefixes and skipped.
 */
function nativeRoutes(stack: Layer[]): string[] {
  const out: string[] = [];
  for (const layer of stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const path of paths) {
        for (const method of Object.keys(layer.route.methods)) {
          if (method !== '_all') out.push(`${method.toUpperCase()} ${path.replace(/:\w+/g, '{}')}`);
        }
      }
    } else if (layer.slash && layer.handle.stack) {
      out.push(...nativeRoutes(layer.handle.stack));
    }
  }
  return out;
}

function documented(): string[] {
  const doc = openApiDocument(options);
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace(/\{\w+\}/g, '{}')}`),
  );
}

async function serve(handler: Express): Promise<{ url: string; close: () => void }> {
  const server = handler.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

describe('OpenAPI document vs the Express app', () => {
  it('documents every native route registered in the app, and nothing more', () => {
    const registered = nativeRoutes((app() as unknown as { router: { stack: Layer[] } }).router.stack);
    expect(registered).toContain('POST /sessions/{}/messages');
    expect(registered).toContain('GET /health');
    expect(registered).toContain('GET /ready');
    expect(registered).toContain('GET /metrics');
    expect([...registered].sort()).toEqual([...documented()].sort());
  });

  it('serves /openapi.json and /docs publicly, and Swagger UI from the installed swagger-ui-dist', async () => {
    const assets = swaggerUiDir();
    expect(assets).not.toBeNull();
    const server = await serve(app());
    try {
      const spec = await fetch(`${server.url}/openapi.json`);
      expect(spec.status).toBe(200);
      expect(await spec.json()).toEqual(JSON.parse(JSON.stringify(openApiDocument(options))));
      const page = await fetch(`${server.url}/docs`);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await page.text()).toContain('/docs/assets/swagger-ui-bundle.js');
      const bundle = await fetch(`${server.url}/docs/assets/swagger-ui-bundle.js`);
      expect(bundle.status).toBe(200);
      expect(bundle.headers.get('content-type')).toMatch(/javascript/);
    } finally {
      server.close();
    }
  });

  it('falls back to a self-contained page when swagger-ui-dist is not installed', async () => {
    const fallback = express().use(docsRoutes(openApiDocument(options), null));
    const server = await serve(fallback);
    try {
      const html = await (await fetch(`${server.url}/docs`)).text();
      expect(html).toContain('batonFallback();');
      expect(html).not.toContain('/docs/assets/');
      expect((await fetch(`${server.url}/docs/assets/swagger-ui-bundle.js`)).status).toBe(404);
    } finally {
      server.close();
    }
  });
});
