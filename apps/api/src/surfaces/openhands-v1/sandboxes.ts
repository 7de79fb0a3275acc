import { AppError, SessionArchivedError, SessionNotFoundError } from '@baton/core';
import type { SandboxRecord, SandboxStore, SessionService } from '@baton/store';
import { DEFAULT_SPEC } from './models.ts';

export class SandboxNotFoundError extends AppError {
  constructor(id: string) {
    super(404, 'sandbox_not_found', `Sandbox ${id} not found`);
  }
}

/**
 * What a sandbox does to the sessions that run in it. A sandbox's status is set
 * first and its sessions are changed after, so a conversation joining meanwhile
 * (which adds itself, then reads the status) is never missed.
 */
export class SandboxOps {
  constructor(
    private readonly service: SessionService,
    readonly store: SandboxStore,
  ) {}

  /** A new sandbox, RUNNING at once: Baton has nothing to boot. */
  async start(input: { tenant: string; sandboxSpecId?: string; conversationIds?: string[] }): Promise<SandboxRecord> {
    const record = await this.store.create({
      sandboxSpecId: input.sandboxSpecId ?? DEFAULT_SPEC.id,
      tenant: input.tenant,
      status: 'RUNNING',
      conversationIds: input.conversationIds ?? [],
    });
    if (!record) throw new AppError(500, 'internal_error', 'Sandbox id collision');
    return record;
  }

  /** True when `tenant` (the caller's API key; '' with auth off) may see the sandbox. */
  sees(record: SandboxRecord, tenant: string): boolean {
    return tenant === '' || record.tenant === tenant;
  }

  /** A sandbox of the caller's that exists and was not deleted, or a 404. */
  async live(id: string, tenant: string): Promise<SandboxRecord> {
    const record = await this.store.get(id);
    if (!record || record.status === 'MISSING' || !this.sees(record, tenant)) throw new SandboxNotFoundError(id);
    return record;
  }

  /** No turn starts in its conversations (a running turn finishes; new messages wait). */
  async pause(id: string, tenant: string): Promise<void> {
    await this.owned(id, tenant);
    if ((await this.store.setStatus(id, 'PAUSED')) !== 'ok') throw new SandboxNotFoundError(id);
    await this.forEach(id, (c) => this.service.pause(c));
  }

  /** Lifts the pause: each conversation starts its first queued message, if any. */
  async resume(id: string, tenant: string): Promise<void> {
    await this.owned(id, tenant);
    if ((await this.store.setStatus(id, 'RUNNING')) !== 'ok') throw new SandboxNotFoundError(id);
    await this.forEach(id, (c) => this.service.resume(c));
  }

  /** The sandbox becomes a MISSING tombstone; its conversations are archived (readable, 410 on send). */
  async delete(id: string, tenant: string): Promise<void> {
    await this.owned(id, tenant);
    if ((await this.store.markMissing(id)) !== 'ok') throw new SandboxNotFoundError(id);
    await this.forEach(id, (c) => this.service.archive(c));
  }

  /** 404 for another API key's sandbox (a missing one is refused by the status change). */
  private async owned(id: string, tenant: string): Promise<void> {
    if (tenant === '') return;
    const record = await this.store.get(id);
    if (record && !this.sees(record, tenant)) throw new SandboxNotFoundError(id);
  }

  /** Runs `fn` on each conversation of the sandbox; conversations deleted or archived meanwhile are skipped. */
  private async forEach(id: string, fn: (conversationId: string) => Promise<unknown>): Promise<void> {
    const record = await this.store.get(id);
    await Promise.all(
      (record?.conversation_ids ?? []).map((c) =>
        fn(c).catch((err: unknown) => {
          if (err instanceof SessionNotFoundError || err instanceof SessionArchivedError) return;
          throw err;
        }),
      ),
    );
  }
}
