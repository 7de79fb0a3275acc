import { Router } from 'express';
import { allow } from '../../http/errors.ts';

/**
 * The agent server API version this surface follows: the one `@openhands/typescript-client`
 * 1.39 is generated from. Its feature checks read `version` from `/server_info`.
 */
export const AGENT_SERVER_VERSION = '1.44.0';

/**
 * The agent server's public `GET /alive` and `GET /server_info` (no key, as upstream).
 * Only what Baton can say honestly: no tools, no workspace, no idle time.
 */
export function serverDetailsRoutes(startedAt = Date.now()): { alive: Router; info: Router } {
  const alive = Router();
  alive
    .route('/')
    .get((_req, res) => {
      res.json({ status: 'ok' });
    })
    .all(allow('GET'));
  const info = Router();
  info
    .route('/')
    .get((_req, res) => {
      res.json({
        uptime: (Date.now() - startedAt) / 1000,
        title: 'Baton (OpenHands agent server API)',
        version: AGENT_SERVER_VERSION,
        usable_tools: [] as string[],
        capabilities: [] as string[],
        docs: '/docs',
      });
    })
    .all(allow('GET'));
  return { alive, info };
}
