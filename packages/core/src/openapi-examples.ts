/**
 * The request examples of the OpenAPI document: what Swagger UI's "Try it out" sends on the
 * first click, so each must be a valid request that does something sensible on a fresh
 * `npm start` (`test/openapi.test.ts` sends every one to a real Baton and expects a 2xx).
 */

/** `POST /sessions`, `PUT /sessions/{id}`: a session whose history starts with a system prompt (default agent). */
export const CREATE_SESSION_EXAMPLE = {
  state: [{ role: 'system', content: 'You are a helpful assistant. Answer in one sentence.' }],
};

/**
 * `POST /sessions/{id}/messages`: a user message. `if_busy: "enqueue"` so that a second
 * click while the first turn still runs queues the message instead of answering 409.
 */
export const MESSAGE_EXAMPLE = { content: 'Hello, Baton', if_busy: 'enqueue' };

/**
 * `POST /sessions/{id}/resume`: approve the tool call an `interrupted` turn waits on. The
 * interrupt's id is what the user pastes in from `GET /sessions/{id}` (`interrupts[0].interrupt_id`),
 * as a session id is for the path.
 */
export const RESUME_EXAMPLE = { interrupt_id: 'paste interrupts[0].interrupt_id from GET /sessions/{id}', value: { approved: true } };

/** The pages of `docs/surfaces/`, served at `/docs/surfaces/{page}` and linked from the document. */
export const SURFACE_PAGES = ['openhands.md', 'openhands-v1.md', 'agenhq.md'] as const;
