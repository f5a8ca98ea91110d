/**
 * The one place activity timeouts and retry policies are set, one proxy per timeout class.
 * - api: quick calls to an outside API (S3, Docker, SQL status). One minute is generous; retried with backoff.
 * - longApi: batches of API calls (retention over 50 sites); they heartbeat after each item and resume from it.
 * - cloud: cloud provider API calls. Throttling (429) is expected during a 33-droplet bring-up, so attempts are
 *   unlimited within a 30-minute budget and each wait follows the server's Retry-After.
 * - cloudWait: waiting for cloud resources to become ready; heartbeats every poll.
 * - remoteExec: commands on remote hosts that may run long (package installs, dumps); they heartbeat every
 *   few seconds so a dead worker is noticed within 30 s instead of after the 30-minute ceiling.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { nonRetryableErrorTypes } from './failures';

export const api = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 6, nonRetryableErrorTypes },
});

export const longApi = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes },
});

export const remoteExec = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes },
});

export const cloud = proxyActivities<Activities>({
  // One API call or a short sequence of them: a call stuck for 30 s is retried (and a dead worker noticed).
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '30 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', nonRetryableErrorTypes },
});

export const cloudWait = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', nonRetryableErrorTypes },
  scheduleToCloseTimeout: '45 minutes',
});
