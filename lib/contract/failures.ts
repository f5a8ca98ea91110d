/**
 * The one union of failure types Drover's activities and workflows throw (as `ApplicationFailure.type`).
 * Pure module: imported by activities (to classify errors) and by workflows (retry policies).
 */
export const PERMANENT_FAILURES = [
  'InvalidInput',
  'ConfigMissing',
  'SshAuthFailed',
  'SshHostKeyMismatch',
  'RemoteCommandFailed',
  'DatabaseAuthFailed',
  'DatabaseQueryFailed',
  'ObjectNotFound',
  'StorageAccessDenied',
  'DockerRequestRejected',
  'BackupCorrupted',
  'DecryptionFailed',
  'RestoreVerificationFailed',
  'RestoreDrillFailed',
  /** Another restore of the same site is running (drover_meta.restore_locks). */
  'RestoreInProgress',
  /** The site is being migrated from its old host: only that migration may change it until it ends. */
  'MigrationInProgress',
  'CachePurgeRefused',
  'CloudAuthFailed',
  'CloudNotFound',
  'CloudRequestRejected',
  /** A migration's old host has no WordPress where the input says, or its wp-config.php cannot be read. */
  'MigrationSourceInvalid',
  /** A migrated site does not match its source (row counts, checksums, files, a URL left behind). */
  'MigrationVerificationFailed',
] as const;

export const TRANSIENT_FAILURES = [
  'SshUnreachable',
  'DockerUnavailable',
  'DatabaseUnavailable',
  'NoSyncedGaleraNode',
  'StorageUnavailable',
  'StorageThrottled',
  'CacheUnavailable',
  'SiteUnavailable',
  'CloudThrottled',
  'CloudUnavailable',
  /** A collection of unreferenced backup data runs on the site: a night or restore waits for it (lib/backup-leases.ts). */
  'BackupBusy',
  /** The worker's own disk would not take a restore's scratch files (full, or an I/O error): another attempt may. */
  'WorkerDiskFull',
  /**
   * A program the worker ran (age, zstd, the database client) was killed by a signal the worker did not send it:
   * the kernel's OOM killer, most likely. The data is not at fault; another attempt may succeed.
   */
  'WorkerProcessKilled',
  /**
   * A step that streams bytes moved none for its stall bound (DROVER_STEP_STALL_SECONDS): a storage node's disk or
   * mount hung under a remote `tar`, an old host's database silent under its dump, while SSH itself still answers.
   * Another attempt may find it well again.
   */
  'StepStalled',
] as const;

export type PermanentFailureType = (typeof PERMANENT_FAILURES)[number];
export type TransientFailureType = (typeof TRANSIENT_FAILURES)[number];
export type FailureType = PermanentFailureType | TransientFailureType;

/** The types a retry policy must never retry. */
export const nonRetryableErrorTypes: string[] = [...PERMANENT_FAILURES];

export function isPermanent(type: string): boolean {
  return (PERMANENT_FAILURES as readonly string[]).includes(type);
}

/** The innermost failure of a chain (child workflow → activity → application failure), which names the type. */
export function rootCause(err: Error): Error & { type?: string } {
  let e: Error & { type?: string } = err;
  while (e.cause instanceof Error) e = e.cause;
  return e;
}

/** The root cause's type and message, as progress and outcomes report a failure. */
export function rootMessage(err: Error): string {
  const e = rootCause(err);
  return e.type ? `${e.type}: ${e.message}` : e.message;
}
