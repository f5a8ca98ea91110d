/**
 * One contractor's time-boxed access to one site (ID `access/<site>/<user>`): creates the site-scoped database
 * user and SFTP login, waits on a durable timer until the grant expires, and revokes everything. The timer lives
 * in Temporal, not in a worker: a worker killed while a grant is live leaves it to the next worker, which revokes
 * on time. Revoking early and extending are Workflow Updates because the operator needs an answer or a refusal
 * (a grant already revoked, an extension past the 90-day ceiling): their validators refuse before anything enters
 * history.
 *
 * With `files`, the grant is also written into the contractor stack's configuration (an Authentik blueprint, a
 * FileBrowser user scoped to the site, Adminer's allowed database) and removed from it on revocation.
 *
 * Nothing secret is in the input or history: the database user is created from its password's hash and the SFTP
 * login from the contractor's public key; the password and any private key stay with the operator's CLI.
 */
import { allHandlersFinished, ApplicationFailure, condition, defineQuery, defineUpdate, patched, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { MAX_GRANT_MS, MIN_GRANT_MS, type AccessKind } from '../lib/access-grants';
import { rootMessage } from '../lib/contract/failures';
import { api, revocation } from './lib/proxies';

export interface AccessGrantInput {
  site: string;
  /** The contractor (ACCESS_USER). */
  user: string;
  /** Their login name for the database and SFTP (accessLogin). */
  login: string;
  /** Who granted it (the audit record). */
  operator: string;
  durationMs: number;
  /** The site's database, when the grant includes it, and the hash of the password the CLI handed out. */
  db: { database: string; passwordHash: string } | null;
  /** The site's root-owned directory and storage node, when the grant includes SFTP, and the contractor's public key. */
  sftp: { siteRoot: string; storageHost: string | null; publicKey: string } | null;
  /**
   * FileBrowser (and Adminer, with `db`) through the contractor stack's configuration (`--files`). Absent in grants
   * started before it existed.
   */
  files?: boolean;
}

export interface AccessGrantState {
  grantId: string;
  site: string;
  user: string;
  login: string;
  kinds: AccessKind[];
  status: 'granting' | 'active' | 'revoking' | 'revoked' | 'failed';
  grantedAt: string | null;
  expiresAt: string;
  revokedAt: string | null;
  /** Why it ended: the timer, or the operator who revoked it early. */
  revokedBy: string | null;
  /** What revocation found and ended (sessions killed count as ended). */
  revoked: { droppedDbUser: boolean; killedDbConnections: number; removedSftpLogin: boolean; killedSftpSessions: number; removedPortalGrant?: boolean } | null;
  extensions: number;
  error?: string;
}

export const accessGrantStateQuery = defineQuery<AccessGrantState>('accessGrantState');
/** Ends the grant now (idempotent while it runs); answers once everything is revoked. */
export const revokeAccessUpdate = defineUpdate<AccessGrantState, [{ operator: string }]>('revokeAccess');
/** Pushes the expiry back by `byMs` (at most 90 days from now in all); answers with the new state. */
export const extendAccessUpdate = defineUpdate<AccessGrantState, [{ operator: string; byMs: number }]>('extendAccess');

const refuse = (message: string) => ApplicationFailure.create({ type: 'InvalidInput', message, nonRetryable: true });

/** A contractor's grant on one site; see the module comment. */
export async function accessGrantWorkflow(input: AccessGrantInput): Promise<AccessGrantState> {
  // Grants with --files schedule two more activities; the marker keeps histories from before them replaying.
  const files = input.files === true && patched('access-grant-files');
  const kinds: AccessKind[] = [...(input.db ? ['db' as const] : []), ...(input.sftp ? ['sftp' as const] : []), ...(files ? ['files' as const] : [])];
  const portal = { site: input.site, user: input.user, login: input.login, database: input.db?.database ?? null };
  const state: AccessGrantState = {
    grantId: workflowInfo().workflowId,
    site: input.site,
    user: input.user,
    login: input.login,
    kinds,
    status: 'granting',
    grantedAt: null,
    expiresAt: new Date(Date.now() + input.durationMs).toISOString(),
    revokedAt: null,
    revokedBy: null,
    revoked: null,
    extensions: 0,
  };
  let revokeBy: string | null = null;
  let seq = 0;
  const audit = (operation: string, operator: string, detail: string) =>
    api.recordAccessEvent({ operator, operation, site: input.site, seq: ++seq, detail: `${input.user} (${input.login}): ${detail}` });

  setHandler(accessGrantStateQuery, () => state);
  setHandler(
    revokeAccessUpdate,
    async ({ operator }) => {
      revokeBy ??= operator;
      await condition(() => state.status === 'revoked' || state.status === 'failed');
      return state;
    },
    { validator: ({ operator }) => { if (!operator) throw refuse('operator: empty'); } },
  );
  setHandler(
    extendAccessUpdate,
    async ({ operator, byMs }) => {
      state.expiresAt = new Date(Date.parse(state.expiresAt) + byMs).toISOString();
      state.extensions += 1;
      // `drover access list` reads the expiry from the memo (no worker needed to list).
      upsertMemo({ expiresAt: state.expiresAt });
      await audit('accessExtended', operator, `${kinds.join('+')} until ${state.expiresAt}`);
      return state;
    },
    {
      validator: ({ byMs }) => {
        if (state.status !== 'active' || revokeBy !== null) throw refuse(`grant: ${state.grantId} is ${revokeBy !== null ? 'being revoked' : state.status}; only an active grant can be extended`);
        if (!Number.isInteger(byMs) || byMs < MIN_GRANT_MS) throw refuse(`--for: an extension is at least ${MIN_GRANT_MS / 1000} s`);
        if (Date.parse(state.expiresAt) + byMs - Date.now() > MAX_GRANT_MS) throw refuse('--for: the grant would then run more than 90 days from now; grant again later');
      },
    },
  );

  if (!Number.isInteger(input.durationMs) || input.durationMs < MIN_GRANT_MS || input.durationMs > MAX_GRANT_MS) throw refuse('durationMs: out of range');

  /** `by`: the operator who revoked early, `expiry`, or `failed-grant` (undoing half a grant). */
  async function revokeAll(by: string): Promise<void> {
    state.status = 'revoking';
    const db = input.db ? await revocation.revokeContractorDbUser({ login: input.login }) : null;
    const sftp = input.sftp ? await revocation.revokeSftpLogin({ storageHost: input.sftp.storageHost, login: input.login }) : null;
    const portalGone = files ? await revocation.removeContractorPortalGrant(portal) : null;
    state.revoked = {
      droppedDbUser: db?.droppedUser ?? false,
      killedDbConnections: db?.killedConnections ?? 0,
      removedSftpLogin: sftp?.removedLogin ?? false,
      killedSftpSessions: sftp?.killedSessions ?? 0,
      ...(portalGone ? { removedPortalGrant: portalGone.removed } : {}),
    };
    state.revokedAt = new Date().toISOString();
    state.revokedBy = by;
    await revocation.recordAccessEvent({
      operator: by === 'expiry' ? 'drover:expiry' : by === 'failed-grant' ? input.operator : by,
      operation: 'accessRevoked',
      site: input.site,
      seq: ++seq,
      detail: `${input.user} (${input.login}): ${by === 'expiry' ? 'expired' : by === 'failed-grant' ? 'grant failed, undone' : 'revoked early'}; ${state.revoked.killedDbConnections} db connection(s), ${state.revoked.killedSftpSessions} sftp session process(es) killed`,
    });
    state.status = 'revoked';
  }

  try {
    if (input.db) await api.createContractorDbUser({ login: input.login, database: input.db.database, passwordHash: input.db.passwordHash });
    if (input.sftp) await api.createSftpLogin({ storageHost: input.sftp.storageHost, login: input.login, siteRoot: input.sftp.siteRoot, publicKey: input.sftp.publicKey });
    if (files) await api.writeContractorPortalGrant(portal);
  } catch (err) {
    // Half a grant is no grant: undo what was created, then fail with the cause.
    state.error = rootMessage(err as Error);
    await revokeAll('failed-grant');
    state.status = 'failed';
    throw err;
  }
  state.grantedAt = new Date().toISOString();
  state.status = 'active';
  await audit('accessGranted', input.operator, `${kinds.join('+')} until ${state.expiresAt}`);

  // The durable timer: re-armed when an extension moves the expiry, cut short by an early revoke.
  while (revokeBy === null) {
    const left = Date.parse(state.expiresAt) - Date.now();
    if (left <= 0) break;
    const expiry = state.expiresAt;
    await condition(() => revokeBy !== null || state.expiresAt !== expiry, left);
  }
  await revokeAll(revokeBy ?? 'expiry');
  await condition(allHandlersFinished);
  return state;
}
