import express, { type RequestHandler } from 'express';
import { AppError } from '@baton/core';

/**
 * JSON bodies only. A body with another content type gets 415 rather than being
 * silently ignored; an empty body parses as `undefined`.
 */
export function jsonBody(limit: string): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && !req.is(['application/json', 'application/*+json'])) {
      return next(
        new AppError(415, 'unsupported_media_type', `Send the body as application/json (got ${req.headers['content-type'] ?? 'no content-type'})`),
      );
    }
    next();
  };
  return [requireJson, express.json({ limit, type: ['application/json', 'application/*+json'] })];
}
