import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SessionView } from '@baton/core';
import type { SessionService } from '@baton/store';
import type { Caller, Keyring } from './auth.ts';

/** Session attributes of a conversation with a minted key: a random nonce and the key's SHA-256. */
export const ATTR_KEY_NONCE = 'oh_key_nonce';
export const ATTR_KEY_DIGEST = 'oh_key_sha256';

/** `ohk_<conversation id, 32 hex>_<43 base64url characters>` */
const MINTED = /^ohk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

/**
 * Keys minted for one OpenHands V1 conversation (its `session_api_key`). A key is an HMAC
 * of the conversation id and a random nonce under the tenant's own API key digest, so the
 * tenant can be shown it again; Redis holds only the nonce and the key's SHA-256. A key
 * authorizes its conversation's routes and WebSocket only, as that conversation's tenant,
 * and stops working once the conversation is deleted or archived. With auth off there
 * are no keys to mint (every request is already allowed).
 */
export class ConversationKeys {
  constructor(
    private readonly keyring: Keyring,
    private readonly service: SessionService,
  ) {}

  /** The attributes that give a new conversation its key (none with auth off). */
  attributesFor(tenant: string, conversationId: string): Record<string, string> {
    const nonce = randomBytes(16).toString('base64url');
    const key = this.derive(tenant, conversationId, nonce);
    return key ? { [ATTR_KEY_NONCE]: nonce, [ATTR_KEY_DIGEST]: sha256Hex(key) } : {};
  }

  /** The conversation's key, for its tenant; null with auth off or when the conversation has none. */
  keyFor(view: SessionView): string | null {
    const nonce = view.attributes[ATTR_KEY_NONCE];
    return nonce ? this.derive(view.tenant, view.session_id, nonce) : null;
  }

  /** The caller a minted key names: its conversation's tenant, scoped to that conversation. */
  async verify(presented: string): Promise<Caller | null> {
    const match = MINTED.exec(presented);
    if (!match) return null;
    const hex = match[1] as string;
    const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    const view = await this.service.scope('').get(id);
    const stored = view?.attributes[ATTR_KEY_DIGEST];
    if (!view || !stored || view.archived) return null;
    const expected = Buffer.from(stored, 'hex');
    const actual = Buffer.from(sha256Hex(presented), 'hex');
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
    return { tenant: view.tenant, admin: false, conversation: id };
  }

  private derive(tenant: string, conversationId: string, nonce: string): string | null {
    const mac = this.keyring.mint(tenant, `openhands-conversation:${conversationId}:${nonce}`);
    return mac ? `ohk_${conversationId.replace(/-/g, '')}_${mac.toString('base64url')}` : null;
  }
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}
