/** Activities that run commands on hosts over SSH (batch mode, pinned host keys). */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps } from '../lib/clients/deps';
import { withHeartbeat } from './lib/heartbeat';
import { parseSshTarget, withSsh, formatSshTarget } from '../lib/clients/ssh-client';

export interface RunRemoteCommandInput {
  /** user@host[:port]; the worker's default target when omitted. */
  target?: string;
  command: string;
}

export interface RunRemoteCommandResult {
  target: string;
  code: number;
  stdout: string;
  stderr: string;
}

export function createSshActivities({ ssh }: Pick<ActivityDeps, 'ssh'>) {
  return {
    /** Runs one command; a non-zero exit is returned (the workflow decides), connection trouble is thrown. */
    async runRemoteCommand(input: RunRemoteCommandInput): Promise<RunRemoteCommandResult> {
      const target = input.target ? parseSshTarget(input.target) : ssh.defaultTarget;
      // Heartbeats on a timer for as long as the command runs: a command longer than the heartbeat timeout
      // must not be retried beside itself.
      const r = await withHeartbeat(
        () => ({ target: formatSshTarget(target) }),
        () => withSsh(target, ssh.options, (c) => c.exec(input.command, { signal: cancellationSignal() }), cancellationSignal()),
      );
      return { target: formatSshTarget(target), ...r };
    },
  };
}
