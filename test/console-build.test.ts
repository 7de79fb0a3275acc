import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from 'vite';
import { ROOT } from '@baton/devtools';

/**
 * The console's built files are committed (`apps/console/dist`), so `npm ci && npm start`
 * serves them with no build step, offline and with `npm ci --omit=dev` (the Docker image).
 * Here the build runs again from the sources: it must give the committed files byte for byte.
 * When it fails, run `npm run build:console` and commit `apps/console/dist`.
 */
const CONSOLE = join(ROOT, 'apps', 'console');
const out = mkdtempSync(join(tmpdir(), 'baton-console-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function files(dir: string): Map<string, Buffer> {
  const found = new Map<string, Buffer>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else found.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return found;
}

describe('apps/console/dist', () => {
  it('is what the sources build to, byte for byte (committed and fresh), and small', async () => {
    await build({ configFile: join(CONSOLE, 'vite.config.ts'), logLevel: 'silent', build: { outDir: out, emptyOutDir: true } });
    const built = files(out);
    const committed = files(join(CONSOLE, 'dist'));
    expect([...committed.keys()].sort(), 'run `npm run build:console` and commit apps/console/dist').toEqual([...built.keys()].sort());
    for (const [name, bytes] of built) expect(committed.get(name)!.equals(bytes), `${name} differs from a fresh build`).toBe(true);
    const total = [...built.values()].reduce((sum, b) => sum + b.length, 0);
    expect(total).toBeLessThan(100_000);
  }, 120_000);
});
