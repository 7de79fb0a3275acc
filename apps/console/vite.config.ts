import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * Builds the console into `dist/` (committed, so `npm ci && npm start` serves it with no build
 * step; `console-build.test.ts` rebuilds and compares). Relative base: the API serves it at
 * `/console/`, or under any prefix a proxy adds.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Always the production build, whatever NODE_ENV says (vitest sets `test`): reproducible.
  mode: 'production',
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  // Vite's default picks `development` exports when NODE_ENV is not `production`.
  resolve: { conditions: ['module', 'browser', 'production'] },
  base: './',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact', development: false } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // One script and one stylesheet: nothing to preload, and no inline script for the CSP to allow.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
