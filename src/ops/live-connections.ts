/**
 * The operators' view of live gateway connections on every replica (issue 12 item 12): who, from
 * where, since when, which channels, how many bytes — read from the rows each replica's live
 * publisher keeps (gateway/live-publisher.ts) — and "end this one", recorded on the row for the
 * replica that holds the connection to act on within its next tick. Audited with the operator's name.
 */
import type { Auditor } from '../audit/auditor.ts';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import { staleAfterMs } from '../gateway/live-publisher.ts';
import type { LiveConnectionRecord, LiveConnectionRepository } from '../store/repositories.ts';

/** Who acts, for the audit trail. */
export interface LiveActor {
  name: string;
  clientAddress: string | null;
}

/** Listing and ending live gateway connections across replicas. */
export class LiveConnections {
  readonly #repo: LiveConnectionRepository;
  readonly #clock: Clock;
  readonly #audit: Auditor;
  readonly #staleMs: number;

  /** `intervalMs` is the replicas' live-check interval (AIRLOCK_GATEWAY_LIVE_CHECK): it sets when a silent replica counts as dead. */
  constructor(deps: { repository: LiveConnectionRepository; clock: Clock; audit: Auditor; intervalMs: number }) {
    this.#repo = deps.repository;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#staleMs = staleAfterMs(deps.intervalMs);
  }

  /** Live connections on replicas that are alive, newest first; `user` narrows to one user. */
  async list(options: { user?: string } = {}): Promise<LiveConnectionRecord[]> {
    const all = await this.#repo.list(this.#clock.now() - this.#staleMs);
    return options.user === undefined || options.user === '' ? all : all.filter((c) => c.userName === options.user);
  }

  /** Asks the replica holding connection `id` to end it; not_found when no live replica holds it. */
  async end(id: string, actor: LiveActor): Promise<LiveConnectionRecord> {
    const now = this.#clock.now();
    const found = (await this.#repo.list(now - this.#staleMs)).find((c) => c.id === id);
    if (found === undefined || !(await this.#repo.requestEnd(id, actor.name, now, now - this.#staleMs))) {
      throw new AirlockError('not_found', 'That connection is no longer open (it ended, or its gateway stopped); reload the list.');
    }
    await this.#audit.record({
      type: 'admin.connection_end', outcome: 'success', actor: actor.name, clientAddress: actor.clientAddress,
      details: { connection: id, user: found.userName, from: found.clientAddress, replica: found.replicaId },
    });
    return found;
  }
}
