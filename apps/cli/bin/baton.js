#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so no build step is needed.
import { register as registerHooks } from 'node:module';
import { register } from 'tsx/esm/api';

registerHooks('./source-condition.js', import.meta.url);
register();
await import('../src/main.ts');
