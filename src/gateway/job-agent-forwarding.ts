/**
 * Agent forwarding through the job proxy (issue 13 item 4, only where the job's policy allows it): the
 * job's sshd opens an `auth-agent@openssh.com` channel towards the proxy's ssh2 client for each
 * connection a program on the job makes to its `SSH_AUTH_SOCK`; ssh2's client asks its `agent` for a
 * stream to carry it (`getStream`). This agent gives it a channel opened to the researcher's own
 * ssh-agent, through the researcher's connection — the proxy never holds a key, never signs, and
 * only forwards once the researcher asked for it (`ssh -A`, i.e. `auth-agent-req@openssh.com`).
 */
import ssh2 from 'ssh2';
import type { Connection, GetStreamCallback, IdentityCallback, ParsedKey, SignCallback, SigningRequestOptions } from 'ssh2';
import { openAuthAgentChannel } from './ssh2-extensions.ts';

/** ssh2's `agent` for the proxy's client: a stream to the researcher's agent, and nothing else. */
export class ResearcherAgent extends ssh2.BaseAgent<ParsedKey> {
  readonly #conn: Connection;
  readonly #requested: () => boolean;
  readonly #opened: (ok: boolean) => void;

  /**
   * `conn`: the researcher's connection; `requested()`: whether they asked for agent forwarding (and
   * policy allowed it); `opened(ok)`: told of each channel to their agent, for the audit trail.
   */
  constructor(conn: Connection, requested: () => boolean, opened: (ok: boolean) => void) {
    super();
    this.#conn = conn;
    this.#requested = requested;
    this.#opened = opened;
  }

  /** Never used to log in (the proxy's client authenticates with its session certificate only). */
  override getIdentities(cb: IdentityCallback<ParsedKey>): void {
    cb(undefined, []);
  }

  override sign(_pubKey: ParsedKey, _data: Buffer, options: SigningRequestOptions | SignCallback, cb?: SignCallback): void {
    const done = typeof options === 'function' ? options : cb;
    done?.(new Error('the job proxy does not sign'));
  }

  /** A channel to the researcher's agent, for one agent connection on the job. */
  override getStream(cb: GetStreamCallback): void {
    if (!this.#requested()) {
      cb(new Error('the researcher did not forward an agent'));
      return;
    }
    openAuthAgentChannel(this.#conn, (err, channel) => {
      this.#opened(err === undefined);
      if (err) cb(err);
      else cb(undefined, channel);
    });
  }
}
