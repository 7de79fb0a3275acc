// Resolves workspace packages to their TypeScript sources: `@baton/client` exports its built
// `dist/` to other apps, and `src/` under the `@baton/source` condition (as tsconfig.json's
// customConditions and vitest.config.ts do), so the CLI needs no build step in the repository.
export async function resolve(specifier, context, nextResolve) {
  return nextResolve(specifier, { ...context, conditions: [...context.conditions, '@baton/source'] });
}
