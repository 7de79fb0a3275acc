import { defineConfig } from 'vitest/config';

/**
 * Workspace packages that are also published (`@baton/client`) export their built `dist/` by
 * default; inside the repository the `@baton/source` condition points them at `src/` (as
 * `customConditions` in tsconfig.json does for the type checker).
 */
export const SOURCE_CONDITIONS = ['@baton/source', 'module', 'node', 'development|production'];

export default defineConfig({
  test: {
    projects: [
      {
        resolve: { conditions: SOURCE_CONDITIONS },
        ssr: { resolve: { conditions: SOURCE_CONDITIONS } },
        test: {
          name: 'unit',
          // Unit tests first, then the end-to-end suite with its own worker limit.
          sequence: { groupOrder: 0 },
          include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts'],
          globalSetup: ['test/support/global-redis.ts'],
        },
      },
      {
        resolve: { conditions: SOURCE_CONDITIONS },
        ssr: { resolve: { conditions: SOURCE_CONDITIONS } },
        test: {
          name: 'e2e',
          sequence: { groupOrder: 1 },
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/support/global-redis.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Each file spawns its own API and worker processes; two cores.
          maxWorkers: 2,
        },
      },
    ],
  },
});
