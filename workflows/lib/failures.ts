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
  'CachePurgeRefused',
  'CloudAuthFailed',
  'CloudNotFound',
  'CloudRequestRejected',
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
] as const;

export type PermanentFailureType = (typeof PERMANENT_FAILURES)[number];
export type TransientFailureType = (typeof TRANSIENT_FAILURES)[number];
export type FailureType = PermanentFailureType | TransientFailureType;

/** The types a retry policy must never retry. */
export const nonRetryableErrorTypes: string[] = [...PERMANENT_FAILURES];

export function isPermanent(type: string): boolean {
  return (PERMANENT_FAILURES as readonly string[]).includes(type);
}
