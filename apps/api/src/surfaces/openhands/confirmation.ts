import type { Response, Router } from 'express';
import { AppError } from '@baton/core';
import { ATTR_CONFIRM_TOOL_CALLS, type TenantSessions } from '@baton/store';
import { allow } from '../../http/errors.ts';
import { ATTR_CONFIRMATION_POLICY } from './conversation.ts';
import { Checker, conversationId } from './validate.ts';

/** The agent server's confirmation policies (`kind`), short or as the schema's discriminator. */
const POLICY_KINDS = ['AlwaysConfirm', 'NeverConfirm', 'ConfirmRisky'] as const;
type PolicyKind = (typeof POLICY_KINDS)[number];

const SECURITY_RISKS = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH'] as const;

/** ConfirmationResponseRequest's default reason. */
const DEFAULT_REJECT_REASON = 'User rejected the action.';

const success = { success: true } as const;

/**
 * The agent server's confirmation-mode routes, and the settings routes that have nothing to
 * act on in Baton (`secrets`, `security_analyzer`, `condense`: accepted, checked, kept or
 * dropped as docs/surfaces/openhands.md says). Registered before `/:id/events/:eventId`, so
 * `respond_to_confirmation` is never taken for an event id.
 */
export function confirmationRoutes(router: Router, sessions: (res: Response) => TenantSessions): void {
  router
    .route('/:id/events/respond_to_confirmation')
    .post(async (req, res) => {
      // ConfirmationResponseRequest {accept, reason}: answers the tool_approval the turn waits on.
      const id = conversationId(req);
      const check = new Checker();
      const body = check.model(req.body, ['body']);
      const accept = body ? (body.accept === undefined ? check.missing(['body', 'accept']) : check.boolean(body.accept, ['body', 'accept'])) : undefined;
      const reason = body?.reason === undefined ? undefined : check.string(body.reason, ['body', 'reason']);
      check.done();
      const view = await sessions(res).getSession(id);
      const waiting = view.status === 'interrupted' ? view.interrupts[0] : undefined;
      if (!waiting || waiting.type !== 'tool_approval') {
        const why = waiting ? 'waits for user input, not for a confirmation' : 'has no action waiting for confirmation';
        throw new AppError(409, 'conversation_not_waiting', `Conversation ${why}`);
      }
      const value = accept ? { approved: true, ...(reason ? { reason } : {}) } : { approved: false, reason: reason ?? DEFAULT_REJECT_REASON };
      await sessions(res).resumeInterrupt(id, waiting.interrupt_id, value);
      res.json(success);
    })
    .all(allow('POST'));

  router
    .route('/:id/confirmation_policy')
    .post(async (req, res) => {
      // SetConfirmationPolicyRequest {policy: {kind, ...}}: confirm every tool call, or none.
      const id = conversationId(req);
      const check = new Checker();
      const body = check.model(req.body, ['body']);
      const policy = body ? (body.policy === undefined ? check.missing(['body', 'policy']) : check.model(body.policy, ['body', 'policy'])) : undefined;
      const parsed = policy ? parsePolicy(check, policy) : undefined;
      check.done();
      await sessions(res).setAttributes(id, {
        [ATTR_CONFIRM_TOOL_CALLS]: parsed!.confirm ? 'true' : 'false',
        [ATTR_CONFIRMATION_POLICY]: JSON.stringify(parsed!.shown),
      });
      res.json(success);
    })
    .all(allow('POST'));

  router
    .route('/:id/secrets')
    .post(async (req, res) => {
      // UpdateSecretsRequest {secrets: {name: string | SecretSource}}: checked, never stored.
      const id = conversationId(req);
      const check = new Checker();
      const body = check.model(req.body, ['body']);
      const secrets = body ? (body.secrets === undefined ? check.missing(['body', 'secrets']) : check.dict(body.secrets, ['body', 'secrets'])) : undefined;
      for (const [name, value] of Object.entries(secrets ?? {})) {
        if (typeof value !== 'string' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
          check.add('string_type', ['body', 'secrets', name], 'Input should be a valid string or a SecretSource object');
        }
      }
      check.done();
      await sessions(res).getSession(id);
      res.json(success);
    })
    .all(allow('POST'));

  router
    .route('/:id/security_analyzer')
    .post(async (req, res) => {
      // SetSecurityAnalyzerRequest {security_analyzer: {kind, ...} | null}: checked, not kept.
      const id = conversationId(req);
      const check = new Checker();
      const body = check.model(req.body, ['body']);
      if (body) {
        const analyzer = body.security_analyzer;
        if (analyzer === undefined) check.missing(['body', 'security_analyzer']);
        else if (analyzer !== null) {
          const model = check.model(analyzer, ['body', 'security_analyzer']);
          if (model && typeof model.kind !== 'string') check.add('union_tag_invalid', ['body', 'security_analyzer', 'kind'], 'Input tag should be a string naming a security analyzer');
        }
      }
      check.done();
      await sessions(res).getSession(id);
      res.json(success);
    })
    .all(allow('POST'));

  router
    .route('/:id/condense')
    .post(async (req, res) => {
      // Baton sends the agent the whole history: there is nothing to condense.
      await sessions(res).getSession(conversationId(req));
      res.json(success);
    })
    .all(allow('POST'));
}

/**
 * A ConfirmationPolicy: whether every tool call waits for a person, and the policy to show in
 * the conversation info. Baton's tools carry no security risk, so every call is of UNKNOWN
 * risk: `ConfirmRisky` confirms them all unless `confirm_unknown` is false, as upstream.
 */
function parsePolicy(check: Checker, policy: Record<string, unknown>): { confirm: boolean; shown: Record<string, unknown> } | undefined {
  const loc = ['body', 'policy', 'kind'];
  let kind: PolicyKind | undefined;
  if (policy.kind === undefined) kind = check.missing(loc);
  else {
    const long = typeof policy.kind === 'string' ? /__confirmation_policy__(\w+?)-(?:Input|Output)__1$/.exec(policy.kind)?.[1] : undefined;
    kind = check.literal(long ?? policy.kind, POLICY_KINDS, loc, 'union_tag_invalid');
  }
  if (kind === 'AlwaysConfirm') return { confirm: true, shown: { kind } };
  if (kind === 'NeverConfirm') return { confirm: false, shown: { kind } };
  if (kind === 'ConfirmRisky') {
    const threshold = policy.threshold === undefined ? 'HIGH' : check.literal(policy.threshold, SECURITY_RISKS, ['body', 'policy', 'threshold'], 'enum');
    const unknown = policy.confirm_unknown === undefined ? true : check.boolean(policy.confirm_unknown, ['body', 'policy', 'confirm_unknown']);
    if (threshold === undefined || unknown === undefined) return undefined;
    return { confirm: unknown, shown: { kind, threshold, confirm_unknown: unknown } };
  }
  return undefined;
}
