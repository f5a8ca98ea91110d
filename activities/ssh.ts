/** Activities that run commands on hosts over SSH (batch mode, pinned host keys). */
import { heartbeat, cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps } from './deps';
import { parseSshTarget, withSsh, formatSshTarget } from './lib/ssh-client';

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
      heartbeat({ target: formatSshTarget(target) });
      const r = await withSsh(target, ssh.options, (c) => c.exec(input.command, { signal: cancellationSignal() }), cancellationSignal());
      return { target: formatSshTarget(target), ...r };
    },
  };
}
