/**
 * Errors classified once per client. Every outside failure is turned into an ApplicationFailure whose `type`
 * comes from the shared union in lib/contract/failures.ts: permanent ones are non-retryable, throttling carries
 * the server's Retry-After as `nextRetryDelay`.
 */
import { ApplicationFailure } from '@temporalio/common';
import { isPermanent, type FailureType } from '../contract/failures';

export function failure(type: FailureType, message: string, opts: { cause?: unknown; retryAfterMs?: number; details?: unknown[] } = {}): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: isPermanent(type),
    cause: opts.cause instanceof Error ? opts.cause : undefined,
    nextRetryDelay: opts.retryAfterMs,
    details: opts.details,
  });
}

function errCode(err: unknown): string {
  const e = err as { code?: unknown; level?: unknown; name?: unknown };
  return String(e?.code ?? e?.level ?? e?.name ?? '');
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The database server's own trouble with its files, memory or connections (a temporary table's file gone, a full
 * disk, too many connections, a shutdown): the statement was fine and the same one can succeed on a retry.
 */
const SERVER_TROUBLE_CODES = new Set([
  'ER_ERROR_ON_DELETE', 'ER_ERROR_ON_READ', 'ER_ERROR_ON_WRITE', 'ER_ERROR_ON_RENAME', 'ER_CANT_CREATE_FILE', 'ER_CANT_OPEN_FILE', 'ER_CANT_LOCK',
  'ER_DISK_FULL', 'ER_RECORD_FILE_FULL', 'ER_OUT_OF_RESOURCES', 'ER_OUTOFMEMORY', 'ER_OUT_OF_SORTMEMORY', 'ER_GET_ERRNO', 'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED',
]);
export const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT', 'ECONNABORTED']);

/** ssh2 errors: `level` is 'client-authentication' for auth, 'client-timeout' / 'client-socket' for reachability. */
export function classifySshError(err: unknown, target: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const code = errCode(err);
  const msg = errMessage(err);
  if (code === 'client-authentication' || /authentication methods failed/i.test(msg)) {
    return failure('SshAuthFailed', `SSH authentication to ${target} failed: ${msg}`, { cause: err });
  }
  if (/host key/i.test(msg) && /verif|mismatch/i.test(msg)) {
    return failure('SshHostKeyMismatch', `SSH host key of ${target} does not match the pinned key`, { cause: err });
  }
  return failure('SshUnreachable', `SSH to ${target} failed: ${msg}`, { cause: err });
}

/** dockerode errors: `statusCode` for API answers, network codes for an unreachable engine. */
export function classifyDockerError(err: unknown, endpoint: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const status = (err as { statusCode?: number })?.statusCode;
  const msg = errMessage(err);
  if (status !== undefined && status >= 400 && status < 500 && status !== 429 && status !== 408) {
    return failure('DockerRequestRejected', `Docker at ${endpoint} rejected the request (${status}): ${msg}`, { cause: err });
  }
  return failure('DockerUnavailable', `Docker at ${endpoint} is unavailable: ${msg}`, { cause: err });
}

/** mysql2 errors: access denied is permanent, connection and server trouble transient, SQL errors permanent. */
export function classifyDatabaseError(err: unknown, node: string, o: DatabaseErrorOptions = {}): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const code = errCode(err);
  const raw = errMessage(err);
  // A statement that carries a secret: the error's own words masked (or only its code given), and no cause kept.
  const secret = o.hide !== undefined || o.codeOnly === true;
  const said = o.codeOnly ? `(${code || 'unknown'})` : o.hide ? raw.split(o.hide).join('********').slice(0, 200) : raw;
  const doing = o.doing ? `${o.doing} failed: ` : '';
  const cause = secret ? {} : { cause: err };
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR') {
    return failure('DatabaseAuthFailed', `database ${node}: ${doing}access denied`, cause);
  }
  if (NETWORK_CODES.has(code) || SERVER_TROUBLE_CODES.has(code) || code === 'PROTOCOL_CONNECTION_LOST' || code === 'ER_UNKNOWN_COM_ERROR' || code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT' || /WSREP has not yet prepared node/i.test(raw)) {
    return failure('DatabaseUnavailable', `database ${node} unavailable: ${doing}${said}`, cause);
  }
  return failure('DatabaseQueryFailed', `database ${node}: ${doing}${said}`, cause);
}

/** How a database error is told when its statement carries a secret (a password, a password hash). */
export interface DatabaseErrorOptions {
  /** What was being done, for the message (`setting the site user's password`). */
  doing?: string;
  /** A secret the error's message may repeat: masked. */
  hide?: string;
  /** Only the error's code in the message (the statement's values may be quoted in it). */
  codeOnly?: boolean;
}

/**
 * MariaDB client errors (as `mariadb` and `mariadb-dump` print them: `ERROR 2013 (HY000): …`, `Got error: 2013: …`)
 * that are the server's or the link's, not the statement's: no connection (2002, 2003), the server gone or the
 * connection lost mid-statement (2006, 2013, 2026, 1053), too many connections (1040), a Galera node not ready
 * (1047, "WSREP has not yet prepared node"), a certification conflict or a lock wait (1213, 1205), a query killed by a
 * server timeout (4031). Another attempt, on the next Synced node, may succeed.
 */
const UNAVAILABLE_CODES = new Set([2002, 2003, 2006, 2013, 2026, 1040, 1047, 1053, 1205, 1213, 4031]);
const AUTH_CODES = new Set([1044, 1045, 1698]);
/** The same, in words, for a client that printed no error code (a program's own message). */
const UNAVAILABLE_WORDS = /Lost connection|gone away|Can't connect|WSREP|Deadlock found|Lock wait timeout/i;

/**
 * The failure of a MariaDB client program that exited non-zero, from its stderr: DatabaseUnavailable (retried) for
 * the server or the link, DatabaseAuthFailed for a refused login, else DatabaseQueryFailed (the dump or statement
 * itself). Decided by the last error code the client printed when it printed one: an error's words may quote the
 * site's data (a syntax error `near '…'`, a duplicate entry), which must not pass for a lost server. `message` is
 * the caller's (naming the database and node, with the stderr it chose to quote).
 */
export function classifyMariadbClientExit(stderr: string, message: string): ApplicationFailure {
  const codes = [...stderr.matchAll(/(?:ERROR |error: )(\d{4})\b/g)].map((m) => Number(m[1]));
  const code = codes.at(-1);
  if (code !== undefined) {
    if (AUTH_CODES.has(code)) return failure('DatabaseAuthFailed', message);
    return failure(UNAVAILABLE_CODES.has(code) ? 'DatabaseUnavailable' : 'DatabaseQueryFailed', message);
  }
  if (/Access denied/i.test(stderr)) return failure('DatabaseAuthFailed', message);
  return failure(UNAVAILABLE_WORDS.test(stderr) ? 'DatabaseUnavailable' : 'DatabaseQueryFailed', message);
}

/**
 * A copy from another host (`rsync` over `ssh`, run on a storage node) that lost that host: ssh's or rsync's words
 * for a link gone, or ssh's own exit status 255. Another attempt may find the host again (SshUnreachable); any other
 * failure is returned as it was.
 */
const COPY_UNREACHABLE = /connection unexpectedly closed|Connection timed out|Connection refused|Timeout, server|No route|exited 255/i;
export function classifyRemoteCopyFailure(err: unknown, what: string): unknown {
  const msg = (err as Error)?.message ?? String(err);
  // No cause kept: the operator's report walks to the root cause, which would be the permanent RemoteCommandFailed.
  return COPY_UNREACHABLE.test(msg) ? failure('SshUnreachable', `${what} failed, the old host became unreachable: ${msg.slice(-300)}`) : err;
}

/** AWS SDK v3 errors: `$metadata.httpStatusCode`, throttling with Retry-After, missing keys and buckets. */
export function classifyStorageError(err: unknown, what: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; $response?: { headers?: Record<string, string> } };
  const status = e?.$metadata?.httpStatusCode;
  const name = e?.name ?? '';
  const msg = errMessage(err);
  if (status === 429 || status === 503 || name === 'SlowDown' || name === 'ThrottlingException') {
    const retryAfter = Number(e?.$response?.headers?.['retry-after']);
    return failure('StorageThrottled', `object storage throttled ${what}: ${msg}`, { cause: err, retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined });
  }
  if (status === 404 || name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket') {
    return failure('ObjectNotFound', `object storage: ${what} not found`, { cause: err });
  }
  if (status === 403 || name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch') {
    return failure('StorageAccessDenied', `object storage denied ${what}: ${name || msg}`, { cause: err });
  }
  return failure('StorageUnavailable', `object storage unavailable for ${what}: ${msg}`, { cause: err });
}
