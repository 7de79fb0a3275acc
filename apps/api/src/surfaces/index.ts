import type { Express } from 'express';
import type { AppDeps } from '../app.ts';

/** Every compatibility surface, mounted under its own paths (see each folder). */
export function mountSurfaces(_app: Express, _deps: AppDeps): void {
  // Surfaces are added here, one line each.
}
