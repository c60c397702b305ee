/**
 * A person's own sign-in security, as the account page shows and changes it: TOTP re-enrolment
 * (proved with a recovery code, which is used up: the path for a lost or replaced phone), how many
 * recovery codes remain, the web sessions and CLI tokens that are signed in, and "sign out
 * everywhere". Every change is audited. No HTTP here; the web page and any future CLI call this.
 */
import type { Auditor } from '../audit/auditor.ts';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import type { Store, Token, User, WebSessionRecord } from '../store/repositories.ts';
import { consumeRecoveryCode, looksLikeRecoveryCode } from './recovery.ts';
import { newTotpSecret, totpUri } from './totp.ts';

/** Who acts and from where (for the audit log). */
export interface AccountActor {
  name: string;
  clientAddress: string | null;
}

/** The services behind the account page. */
export class AccountSecurity {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: Auditor;
  readonly #issuer: string;

  constructor(deps: { store: Store; clock: Clock; audit: Auditor; issuer?: string }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#issuer = deps.issuer ?? 'Airlock';
  }

  /** How many unused recovery codes the user has. */
  recoveryCodesLeft(user: User): Promise<number> {
    return this.#store.recoveryCodes.remaining(user.id);
  }

  /** The user's signed-in browsers and CLI tokens, newest first. */
  async signedIn(user: User): Promise<{ webSessions: WebSessionRecord[]; tokens: Token[] }> {
    const now = this.#clock.now();
    const [webSessions, tokens] = await Promise.all([this.#store.webSessions.listByUser(user.id, now), this.#store.tokens.listByUser(user.id, now)]);
    return { webSessions, tokens };
  }

  /**
   * Replaces the user's TOTP secret after they prove themselves with one of their recovery codes
   * (which is then used up). The new secret's otpauth URI is returned once, for the QR code.
   */
  async reenrolTotp(user: User, recoveryCode: string, actor: AccountActor): Promise<{ totpUri: string; secret: string }> {
    if (!looksLikeRecoveryCode(recoveryCode) || !(await consumeRecoveryCode(this.#store.recoveryCodes, user.id, recoveryCode, this.#clock.now()))) {
      await this.#audit.record({ type: 'account.totp_reenrol', outcome: 'failure', actor: actor.name, clientAddress: actor.clientAddress, details: { user: user.name, reason: 'recovery_code' } });
      throw new AirlockError('unauthenticated', 'That recovery code is not valid (or was used already). Enter one of your unused recovery codes.');
    }
    const secret = newTotpSecret();
    await this.#store.users.update(user.id, { totpSecret: secret });
    await this.#audit.record({ type: 'account.totp_reenrol', outcome: 'success', actor: actor.name, clientAddress: actor.clientAddress, details: { user: user.name } });
    return { totpUri: totpUri({ issuer: this.#issuer, account: user.name, secret }), secret };
  }

  /** Ends every web session and CLI token of the user (this browser's too). Certificates stay valid: revoke them on their page. */
  async signOutEverywhere(user: User, actor: AccountActor): Promise<{ webSessions: number; tokens: number }> {
    const webSessions = await this.#store.webSessions.removeAllOfUser(user.id);
    const tokens = await this.#store.tokens.revokeAllOfUser(user.id);
    await this.#audit.record({ type: 'account.sign_out_everywhere', outcome: 'success', actor: actor.name, clientAddress: actor.clientAddress, details: { user: user.name, web_sessions: webSessions, tokens } });
    return { webSessions, tokens };
  }
}
