import type { Express, RequestHandler } from 'express';
import type { AppDeps } from '../app.ts';
import type { Request } from 'express';
import { keyFrom } from '../http/auth.ts';
import { ConversationKeys } from '../http/conversation-keys.ts';
import { agenhqRoutes } from './agenhq/index.ts';
import { agenhqError } from './agenhq/errors.ts';
import { mountSurface } from './mount.ts';
import { openhandsRoutes } from './openhands/index.ts';
import { fastApiError, fastApiJsonErrors } from './openhands/errors.ts';
import { parseUuid } from './openhands/validate.ts';
import { openhandsV1Events, openhandsV1Routes } from './openhands-v1/index.ts';

/**
 * Every compatibility surface, each under its own paths with its own auth header and
 * error shape. All of them are thin adapters over the one SessionService.
 */
export function mountSurfaces(app: Express, deps: AppDeps, guards: { rateLimit: RequestHandler; idempotency: RequestHandler }): void {
  const common = { keyring: deps.keyring, bodyLimit: deps.bodyLimit, logger: deps.logger, ...guards };
  // A V1 conversation's `session_api_key` is minted for it: OpenHands routes accept it for that conversation only.
  const keys = new ConversationKeys(deps.keyring, deps.service);
  const openhands = {
    ...common,
    readKey: keyFrom.header('x-session-api-key'),
    format: fastApiError,
    mapErrors: fastApiJsonErrors,
    mintedKeys: (presented: string) => keys.verify(presented),
    normalizeId: parseUuid,
  };
  // OpenHands V1 app server: X-Session-API-Key, FastAPI errors.
  mountSurface(app, openhandsV1Routes(deps, keys), {
    ...openhands,
    paths: ['/api/v1/app-conversations', '/api/v1/sandboxes', '/api/v1/sandbox-specs'],
    conversationOf: (req) => (req.baseUrl.endsWith('/app-conversations') ? pathConversation(req, ['search', 'start-tasks']) : null),
  });
  mountSurface(app, openhandsV1Events(deps), {
    ...openhands,
    paths: ['/api/v1/events'],
    conversationOf: (req) => (typeof req.query.conversation_id__eq === 'string' ? req.query.conversation_id__eq : null),
  });
  // OpenHands agent server (and the 0.53 events route).
  mountSurface(app, openhandsRoutes(deps, keys), {
    ...openhands,
    paths: ['/api/conversations'],
    conversationOf: (req) => pathConversation(req, ['search', 'count']),
  });
  // agenhq: x-api-key, Fastify-style errors.
  mountSurface(app, agenhqRoutes(deps), {
    ...common,
    paths: ['/api/v1/sessions'],
    readKey: keyFrom.header('x-api-key'),
    format: agenhqError,
  });
}

/** The conversation id that starts a surface-relative path, or null for the collection's own routes. */
function pathConversation(req: Request, collectionRoutes: string[]): string | null {
  let first = req.path.split('/')[1] ?? '';
  try {
    first = decodeURIComponent(first);
  } catch {
    // Not a conversation id either way.
  }
  return first === '' || collectionRoutes.includes(first) ? null : first;
}
