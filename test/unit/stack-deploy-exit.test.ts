/**
 * How a `docker stack deploy` that did not succeed is told (runStackDeploy): the real deploy script, run by the real
 * `sh` and `timeout` on this machine instead of over SSH, with a `docker` on PATH that hangs past the bound or is
 * SIGKILLed at once (as the OOM killer does). Exit 137 is both `timeout`'s kill and another's SIGKILL: only a run
 * that lasted the bound is reported as timed out.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { runStackDeploy } from '../../activities/swarm-nodes';
import type { ExecResult, SshClient } from '../../lib/clients/ssh-client';
import { scratchDir } from '../helpers/scratch';

const dir = scratchDir('drover-deploy-exit-');

/** Runs a command as an SSH session would (`sh -c`, the script on stdin), here, with `docker` being `script`. */
function localShell(dockerScript: string): SshClient {
  const bin = mkdtempSync(path.join(dir, 'bin-'));
  writeFileSync(path.join(bin, 'docker'), `#!/bin/sh\n${dockerScript}\n`);
  chmodSync(path.join(bin, 'docker'), 0o755);
  return {
    exec: (command: string, o: { stdin?: string } = {}) =>
      new Promise<ExecResult>((resolve) => {
        const p = spawn('sh', ['-c', command], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d) => (stdout += d));
        p.stderr.on('data', (d) => (stderr += d));
        p.once('close', (code, signal) => resolve({ code: code ?? 128 + (signal ? os.constants.signals[signal] : 0), stdout, stderr }));
        p.stdin.end(o.stdin ?? '');
      }),
  } as unknown as SshClient;
}

const deploy = (c: SshClient) => new MockActivityEnvironment().run(() => runStackDeploy(c, { name: 'site-x', compose: 'services: {}\n', boundSeconds: 1 }, 'manager-1'));
const failureOf = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as { type?: string; nonRetryable?: boolean; message: string });

describe('a stack deploy that did not succeed', () => {
  it('one that outlasts its bound is DockerUnavailable, "did not finish within"', async () => {
    const f = await failureOf(deploy(localShell('exec sleep 30')));
    expect([f?.type, f?.nonRetryable]).toEqual(['DockerUnavailable', false]);
    expect(f?.message).toMatch(/^docker stack deploy of site-x on manager-1 did not finish within 1 s/);
  }, 30_000);

  it('one SIGKILLed at once by another (137 before its bound) is said to be killed, not timed out', async () => {
    const f = await failureOf(deploy(localShell('echo "deploying" >&2; kill -9 $$')));
    expect(f?.type).toBe('DockerUnavailable');
    expect(f?.message).toMatch(/^docker stack deploy of site-x on manager-1 was killed \(SIGKILL\) after \d+ s, before its 1 s bound: the manager's memory, most likely \(deploying/);
  }, 30_000);

  it('one that fails on its own is RemoteCommandFailed with its words', async () => {
    const f = await failureOf(deploy(localShell('echo "service web: image not found" >&2; exit 1')));
    expect([f?.type, f?.nonRetryable]).toEqual(['RemoteCommandFailed', true]);
    expect(f?.message).toBe('docker stack deploy of site-x on manager-1 exited 1: service web: image not found');
  }, 30_000);
});
