/** The connection layer against the real servers: sshd, dockerd (local and SSH-forwarded), Galera, S3. */
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createActivityDeps, closeActivityDeps } from '../../activities';
import { withNodeDocker, type NodeAddress } from '../../activities/lib/node-docker';
import { closeDockerClient, createDockerClient } from '../../lib/clients/docker-client';
import { classifyStorageError } from '../../lib/clients/errors';
import type { RowDataPacket } from 'mysql2/promise';
import { GaleraClient } from '../../lib/clients/galera-client';
import { SshClient, withSsh } from '../../lib/clients/ssh-client';
import { createSpacesClient } from '../../lib/clients/spaces-client';
import { testEnv } from '../helpers/temporal';
import { TEST_STATE_DIR } from '../helpers/paths';
import { freezeGaleraNode, freezeS3, galeraSettled } from '../helpers/frozen';
import { pgrep } from '../helpers/pgrep';
import { scratchDir } from '../helpers/scratch';

const env = testEnv();
const deps = createActivityDeps(env);
afterAll(() => closeActivityDeps(deps));

describe('SshClient', () => {
  it('returns exit code, stdout and stderr separately', async () => {
    const r = await withSsh(deps.ssh.defaultTarget, deps.ssh.options, (c) => c.exec('echo out; echo err >&2; exit 3'));
    expect(r).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('a cancelled command on a peer that hangs (its sshd stopped): the command ends within seconds of the cancel (it waited for good)', async () => {
    // Every session process of the environment's sshd is stopped once the command runs: nothing answers the close.
    const master = readFileSync(path.join(TEST_STATE_DIR, 'ssh', 'sshd.pid'), 'utf8').trim();
    const sessions = (): string[] => {
      const out: string[] = [];
      const walk = (pid: string) => {
        for (const c of pgrep(['-P', pid]).map(String)) {
          out.push(c);
          walk(c);
        }
      };
      walk(master);
      return out;
    };
    const c = await SshClient.connect(deps.ssh.defaultTarget, deps.ssh.options);
    const abort = new AbortController();
    let stopped: string[] = [];
    try {
      const ran = c.exec('echo started; sleep 600', { signal: abort.signal });
      const outcome = ran.then((r) => r.code, (e: Error) => e);
      await new Promise((r) => setTimeout(r, 1_000));
      stopped = sessions();
      expect(stopped.length).toBeGreaterThan(0);
      for (const p of stopped) process.kill(Number(p), 'SIGSTOP');
      abort.abort();
      const ended = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('still waiting'), 15_000))]);
      expect(ended).toBe(-1);
    } finally {
      for (const p of stopped) {
        try {
          process.kill(Number(p), 'SIGCONT');
        } catch {
          /* gone */
        }
      }
      c.close();
    }
  });

  it('feeds stdin, streams stdout, and uploads files over SFTP', async () => {
    await withSsh(deps.ssh.defaultTarget, deps.ssh.options, async (c) => {
      expect((await c.exec('wc -c', { stdin: 'x'.repeat(1000) })).stdout.trim()).toBe('1000');

      const { stdout, exit } = await c.execStream('seq 1 20000');
      const chunks: Buffer[] = [];
      for await (const chunk of stdout) chunks.push(chunk as Buffer);
      await exit;
      const lines = Buffer.concat(chunks).toString().trim().split('\n');
      expect(lines.length).toBe(20000);
      expect(lines[19999]).toBe('20000');

      const remote = `/tmp/drover-upload-test-${process.pid}`;
      await c.upload(Readable.from([Buffer.from('hello '), Buffer.from('drover')]), remote);
      expect((await c.exec(`cat ${remote}; stat -c %a ${remote}; rm -f ${remote}`)).stdout).toBe('hello drover600\n');
    });
  });

  it('a quick streamed command whose output, exit status and close arrive with the channel opening still settles (a tiny site\'s tar)', async () => {
    // ssh2 emits the exit status as it parses it; a command done before its channel's open is handed back used to
    // lose it, and the archive of a small site then waited forever (heartbeating on its timer).
    // A loaded worker, made exact: the event loop is held for 300 ms right after each exec request is sent, so the
    // reply, the output, the exit status and the close are all read in one go.
    await withSsh(deps.ssh.defaultTarget, deps.ssh.options, async (c) => {
      const protocol = (c as unknown as { conn: { _protocol: { exec: (...a: unknown[]) => unknown } } }).conn._protocol;
      const send = protocol.exec.bind(protocol);
      protocol.exec = (...a: unknown[]) => {
        const r = send(...a);
        const until = Date.now() + 300;
        while (Date.now() < until) {
          // held
        }
        return r;
      };
      const hung: number[] = [];
      const settles = (p: Promise<void>) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      for (let i = 0; i < 10; i++) {
        const { stdout, exit } = await c.execStream('printf x');
        stdout.resume();
        if (!(await settles(exit))) hung.push(i);
        const w = await c.execWithStdin('cat >/dev/null');
        w.stdin.end('y');
        if (!(await settles(w.exit))) hung.push(1000 + i);
      }
      expect(hung).toEqual([]);
    });
  }, 120_000);

  it('a connection that drops under a streamed command fails it as SshUnreachable (retryable) instead of waiting forever', async () => {
    const c = await SshClient.connect(deps.ssh.defaultTarget, deps.ssh.options);
    const { stdout, exit } = await c.execStream('echo started; sleep 60');
    const w = await c.execWithStdin('sleep 60');
    stdout.resume();
    await new Promise((r) => stdout.once('data', r));
    // The transport goes away under both commands (as when the host or the network does): no exit status ever comes.
    (c as unknown as { conn: { _sock: { destroy: () => void } } }).conn._sock.destroy();
    const settled = (p: Promise<void>) => Promise.race([p.then(() => 'resolved', (e: { type?: string }) => e.type ?? 'rejected'), new Promise<string>((r) => setTimeout(() => r('still waiting'), 10_000))]);
    expect(await settled(exit)).toBe('SshUnreachable');
    expect(await settled(w.exit)).toBe('SshUnreachable');
  });

  it('a streamed command that fails before its caller looks at `exit` is no unhandled rejection (it would end the worker), and its code is kept', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await withSsh(deps.ssh.defaultTarget, deps.ssh.options, async (c) => {
        const run = await c.execStream('echo gone >&2; exit 66');
        // The caller is busy elsewhere (an S3 call, a lease) while the command exits.
        expect(await run.code).toBe(66);
        await new Promise((r) => setTimeout(r, 200));
        expect(unhandled).toEqual([]);
        await expect(run.exit).rejects.toMatchObject({ type: 'RemoteCommandFailed', message: expect.stringMatching(/exited 66: gone$/) });
        expect(run.stderr()).toBe('gone\n');
      });
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a failed command\'s message holds the stderr that came after its exit status (sshd sends the status when the command exits, its output as it drains)', async () => {
    await withSsh(deps.ssh.defaultTarget, deps.ssh.options, async (c) => {
      // The shell exits at once; what it left running writes the last word half a second later.
      const run = await c.execStream('(sleep 0.5; echo "tar: the last word" >&2) & exit 2');
      run.stdout.resume();
      await expect(run.exit).rejects.toMatchObject({ type: 'RemoteCommandFailed', message: expect.stringMatching(/exited 2: tar: the last word$/) });
      const fed = await c.execWithStdin('cat >/dev/null; (sleep 0.5; echo "tar: the last word" >&2) & exit 2');
      fed.stdin.end('x');
      await expect(fed.exit).rejects.toMatchObject({ type: 'RemoteCommandFailed', message: expect.stringMatching(/exited 2: tar: the last word$/) });
    });
  });

  it('a streamed command that writes megabytes to stderr keeps only its first and last 8 KiB there (a tar over 100,000 unreadable files)', async () => {
    await withSsh(deps.ssh.defaultTarget, deps.ssh.options, async (c) => {
      // A login shell's greeting, then tar's megabytes of warnings, its last word, and the version the files archive writes last.
      const run = await c.execStream('echo "rc: hello" >&2; yes "tar: ./cache/x: Cannot open: Permission denied" | head -c 3000000 >&2; echo "tar: the last word" >&2; echo "drover-wp-version: 6.7.1" >&2; exit 2');
      run.stdout.resume();
      await expect(run.exit).rejects.toMatchObject({ type: 'RemoteCommandFailed', message: expect.stringMatching(/exited 2: [\s\S]*tar: the last word\ndrover-wp-version: 6\.7\.1$/) });
      const kept = run.stderr();
      expect(kept.startsWith('rc: hello\n')).toBe(true);
      expect(kept.endsWith('tar: the last word\ndrover-wp-version: 6.7.1\n')).toBe(true);
      expect(kept).toMatch(/\[… \d+ bytes of stderr not kept …\]/);
      expect(Buffer.byteLength(kept)).toBeLessThan(2 * 8192 + 100);
    });
  });

  it('rejects a failing streamed command with RemoteCommandFailed', async () => {
    await withSsh(deps.ssh.defaultTarget, deps.ssh.options, async (c) => {
      const { stdout, exit } = await c.execStream('echo partial; echo boom >&2; exit 7');
      stdout.resume();
      await expect(exit).rejects.toMatchObject({ type: 'RemoteCommandFailed', nonRetryable: true });
      await expect(c.execOrThrow('exit 4')).rejects.toThrow(/exited 4/);
    });
  });

  it('refuses a server whose host key is not the pinned one', async () => {
    const err = await SshClient.connect(deps.ssh.defaultTarget, { ...deps.ssh.options, pinnedHostKeys: ['SHA256:not-the-key'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('SshHostKeyMismatch');
  });

  it('refuses to connect without host-key pins unless the insecure development switch is set', async () => {
    const unpinned = { ...deps.ssh.options, pinnedHostKeys: [] };
    const err = await SshClient.connect(deps.ssh.defaultTarget, unpinned).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('ConfigMissing');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).toMatch(/DROVER_SSH_HOST_KEYS.*DROVER_SSH_INSECURE_ANY_HOST_KEY/);
    // The Docker-over-SSH path refuses the same way.
    const socket = env.DROVER_DOCKER_HOST.replace(/^unix:\/\//, '');
    const t = deps.ssh.defaultTarget;
    const viaSsh = createDockerClient({ host: `ssh://${t.username}@${t.host}:${t.port}${socket}`, sshPrivateKey: readFileSync(env.DROVER_SSH_KEY_FILE), sshPinnedHostKeys: [] });
    await expect(viaSsh.info()).rejects.toMatchObject({ type: 'ConfigMissing', nonRetryable: true });
    await expect(viaSsh.info()).rejects.toThrow(/DROVER_SSH_HOST_KEYS.*DROVER_SSH_INSECURE_ANY_HOST_KEY/);
    closeDockerClient(viaSsh);
    // With the development switch, Docker over SSH connects without pins.
    const viaSshInsecure = createDockerClient({ host: `ssh://${t.username}@${t.host}:${t.port}${socket}`, sshPrivateKey: readFileSync(env.DROVER_SSH_KEY_FILE), sshPinnedHostKeys: [], sshInsecureAnyHostKey: true });
    try {
      expect(((await viaSshInsecure.info()) as { ServerVersion: string }).ServerVersion).toMatch(/^\d+\./);
    } finally {
      closeDockerClient(viaSshInsecure);
    }
    // With the switch, from the environment as a worker reads it, any host key is accepted.
    const insecure = createActivityDeps({ ...env, DROVER_SSH_HOST_KEYS: '', DROVER_SSH_INSECURE_ANY_HOST_KEY: true });
    try {
      expect((await withSsh(insecure.ssh.defaultTarget, insecure.ssh.options, (c) => c.exec('echo ok'))).stdout).toBe('ok\n');
    } finally {
      await closeActivityDeps(insecure);
    }
  });

  it('classifies a closed port as SshUnreachable (retryable)', async () => {
    const err = (await SshClient.connect({ ...deps.ssh.defaultTarget, port: 1 }, deps.ssh.options).catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('SshUnreachable');
    expect(err.nonRetryable).toBe(false);
  });
});

describe('Docker client', () => {
  it('pings the engine over its local socket', async () => {
    const d = createDockerClient(deps.docker);
    expect(String(await d.ping())).toBe('OK');
  });

  it('reaches the same engine through an SSH-forwarded socket', async () => {
    const socket = env.DROVER_DOCKER_HOST.replace(/^unix:\/\//, '');
    const t = deps.ssh.defaultTarget;
    const viaSsh = createDockerClient({ host: `ssh://${t.username}@${t.host}:${t.port}${socket}`, sshPrivateKey: readFileSync(env.DROVER_SSH_KEY_FILE), sshPinnedHostKeys: deps.ssh.options.pinnedHostKeys });
    const [local, remote] = await Promise.all([createDockerClient(deps.docker).info(), viaSsh.info()]);
    expect(remote.ID).toBe(local.ID);
  });

  it("a node's daemon that takes the call and never answers: the activity's cancellation ends the call (it used to wait for good, holding a stopping worker)", async () => {
    // A hung dockerd as a node's socket: it accepts the connection and never replies.
    const dir = scratchDir('hung-docker-');
    const sockets: net.Socket[] = [];
    const hung = net.createServer((c) => void sockets.push(c));
    await new Promise<void>((r) => hung.listen(path.join(dir, 'docker.sock'), r));
    const t = deps.ssh.defaultTarget;
    const node: NodeAddress = { name: 'hung', ip: t.host, sshPort: t.port, hostKey: deps.ssh.options.pinnedHostKeys![0], dockerSocket: path.join(dir, 'docker.sock') };
    try {
      const mock = new MockActivityEnvironment();
      const call = mock.run(() => withNodeDocker(deps.ssh.options.privateKey, node, (d) => d.listTasks()));
      const outcome = call.then(() => 'answered', (e: Error) => e);
      for (let i = 0; i < 100 && !sockets.length; i++) await new Promise((r) => setTimeout(r, 100));
      expect(sockets.length).toBe(1);
      mock.cancel('CANCELLED');
      const ended = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('still waiting'), 10_000))]);
      expect(ended).toBeInstanceOf(CancelledFailure);
    } finally {
      for (const c of sockets) c.destroy();
      hung.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GaleraClient', () => {
  it('sees all three nodes Synced in one primary component', async () => {
    const synced = await deps.galera.syncedNodes();
    expect(synced.map((n) => n.name)).toEqual(['node1', 'node2', 'node3']);
    const status = await deps.galera.clusterStatus();
    expect(status.every((s) => s.clusterSize === 3 && s.clusterStatus === 'Primary')).toBe(true);
  });

  it('a node that stops answering (its mariadbd SIGSTOPped) is reported unreachable within the status bound, however many ask, and writes go to another', async () => {
    // The production client's code with its status bound shortened to 1 s (5 s in production): the node is stopped
    // for about three seconds, under Galera's suspect timeout (5 s), so it stays in the cluster.
    const BOUND = 1_000;
    const galera = new GaleraClient(deps.galera.nodes, deps.galera.credentials, { statusTimeoutMs: BOUND });
    const late = () => new Promise<null>((r) => setTimeout(() => r(null), BOUND + 2_000));
    // Open connections to it first, as a running worker has: the frozen node then answers neither them nor new ones.
    await galera.nodeStatus(galera.nodes[2]);
    await galera.pool(galera.nodes[2]).query('SELECT 1');
    const resume = freezeGaleraNode('node3');
    try {
      // Six at once, more than a pool's four connections (mysql2 fails a timed-out query but keeps its connection
      // waiting): all answered within the bound and two seconds more, the node unreachable.
      const six = await Promise.race([Promise.all(Array.from({ length: 6 }, () => galera.nodeStatus(galera.nodes[2]))), late()]);
      expect(six, 'status queries still waiting on the stopped node').not.toBeNull();
      expect(six!.map((s) => s.reachable)).toEqual(Array(6).fill(false));
      // A writer lookup after them (a new connection, bounded too) and the stalled-DDL list.
      galera.invalidateStatus();
      const status = await Promise.race([galera.clusterStatus(), late()]);
      expect(status, 'the cluster status was still waiting on the stopped node').not.toBeNull();
      expect(status!.map((s) => [s.node, s.reachable])).toEqual([['node1', true], ['node2', true], ['node3', false]]);
      expect((await galera.writerNode()).name).toBe('node1');
      expect(await Promise.race([galera.stalledDdl(), late()])).toEqual([]);
    } finally {
      resume();
      await galera.close();
    }
    // Back in the cluster before the next test.
    expect(await galeraSettled(deps.galera)).toBe(true);
  }, 120_000);

  it('work on a node that stops answering fails DatabaseUnavailable, retryable, within three status bounds; long work on a node that answers runs on', async () => {
    const BOUND = 1_000;
    const galera = new GaleraClient(deps.galera.nodes, deps.galera.credentials, { statusTimeoutMs: BOUND });
    const node3 = galera.nodes[2];
    try {
      // A statement longer than three bounds on a node that answers its status all along is not given up.
      const [slept] = await galera.query<RowDataPacket[]>(node3, 'SELECT SLEEP(3.5) AS s');
      expect(Number(slept.s)).toBe(0);
      // A session open on the node before it stops, its next query sent after (a dump's snapshot, the programs' reads).
      let opened!: () => void;
      let frozen!: () => void;
      const [isOpen, isFrozen] = [new Promise<void>((r) => (opened = r)), new Promise<void>((r) => (frozen = r))];
      const session = galera
        .onNode(node3, async (conn) => {
          await conn.query('SELECT 1');
          opened();
          await isFrozen;
          return conn.query('SELECT 2');
        })
        .then(() => null, (e: unknown) => e);
      await isOpen;
      const resume = freezeGaleraNode('node3');
      frozen();
      const started = Date.now();
      try {
        // And a pooled query sent after the node stopped.
        const work = Promise.all([galera.query(node3, 'SELECT 1').then(() => null, (e: unknown) => e), session]);
        // Without the watch both waited for as long as the node stayed stopped.
        const failed = await Promise.race([work, new Promise<null>((r) => setTimeout(() => r(null), 3 * BOUND + 2_000))]);
        expect(failed, 'work still waiting on the stopped node').not.toBeNull();
        for (const err of failed! as ApplicationFailure[]) {
          expect(err).toBeInstanceOf(ApplicationFailure);
          expect(err.type).toBe('DatabaseUnavailable');
          expect(err.nonRetryable).toBeFalsy();
          expect(err.message).toMatch(/node3 unavailable: it answered no status query/);
        }
        // Given up about three bounds after it stopped, the waiting queries failed at once (not a bound later).
        expect(Date.now() - started).toBeLessThan(3 * BOUND + 1_000);
        // The next lookup does not pick it.
        expect((await galera.syncedNodes()).map((n) => n.name)).toEqual(['node1', 'node2']);
      } finally {
        resume();
      }
    } finally {
      await galera.close();
    }
    expect(await galeraSettled(deps.galera)).toBe(true);
  }, 120_000);

  it('classifies SQL errors as permanent DatabaseQueryFailed', async () => {
    const err = (await deps.galera.query(deps.galera.nodes[0], 'SELECT * FROM no_such_db.no_such_table').catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('DatabaseQueryFailed');
    expect(err.nonRetryable).toBe(true);
  });
});

describe('Spaces client error classification', () => {
  it('a missing key is ObjectNotFound, a wrong secret is StorageAccessDenied', async () => {
    const missing = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: 'no/such/key' })).catch((e: unknown) => classifyStorageError(e, 'no/such/key'));
    expect((missing as ApplicationFailure).type).toBe('ObjectNotFound');

    const bad: S3Client = createSpacesClient({ endpoint: env.DROVER_S3_ENDPOINT, region: env.DROVER_S3_REGION, accessKeyId: env.DROVER_S3_ACCESS_KEY_ID, secretAccessKey: 'wrong-secret', bucket: env.DROVER_S3_BUCKET, forcePathStyle: true });
    const denied = await bad.send(new GetObjectCommand({ Bucket: deps.bucket, Key: 'x' })).catch((e: unknown) => classifyStorageError(e, 'x'));
    expect((denied as ApplicationFailure).type).toBe('StorageAccessDenied');
    expect((denied as ApplicationFailure).nonRetryable).toBe(true);
    bad.destroy();
  });

  it('a store that stops answering (the S3 server SIGSTOPped) fails a download and an upload StorageUnavailable, retryable, within the idle bound', async () => {
    // The production client with its idle bound shortened to 1 s (5 minutes in production); the SDK makes three
    // attempts, each given up after the bound.
    const IDLE = 1_000;
    const s3 = createSpacesClient({ endpoint: env.DROVER_S3_ENDPOINT, region: env.DROVER_S3_REGION, accessKeyId: env.DROVER_S3_ACCESS_KEY_ID, secretAccessKey: env.DROVER_S3_SECRET_ACCESS_KEY, bucket: env.DROVER_S3_BUCKET, forcePathStyle: true }, { idleTimeoutMs: IDLE });
    const key = `stalled-store-test/${process.pid}-${Date.now()}`;
    const body = Buffer.alloc(8 << 20, 1); // more than the sockets' buffers take
    await s3.send(new PutObjectCommand({ Bucket: deps.bucket, Key: key, Body: body }));
    const resume = freezeS3();
    let outcome: (ApplicationFailure | null)[] | null;
    const started = Date.now();
    try {
      const failed = (p: Promise<unknown>, what: string) => p.then(() => null, (e: unknown) => classifyStorageError(e, what));
      const both = Promise.all([failed(s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key })).then((r) => r.Body!.transformToByteArray()), key), failed(s3.send(new PutObjectCommand({ Bucket: deps.bucket, Key: `${key}-2`, Body: body })), `${key}-2`)]);
      // Without the bound both waited for as long as the store stayed stopped.
      outcome = await Promise.race([both, new Promise<null>((r) => setTimeout(() => r(null), 3 * IDLE + 4_000))]);
    } finally {
      resume();
    }
    try {
      expect(outcome, 'requests still waiting on the stopped store').not.toBeNull();
      for (const err of outcome!) {
        expect(err?.type).toBe('StorageUnavailable');
        expect(err?.nonRetryable).toBeFalsy();
        expect(err?.message).toMatch(/timed out after 1000 ms of inactivity/);
      }
      expect(Date.now() - started).toBeLessThan(3 * IDLE + 4_000);
      // Answering again, the same client reads the object whole.
      const again = await s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }));
      expect(Buffer.from(await again.Body!.transformToByteArray()).equals(body)).toBe(true);
    } finally {
      await deps.s3.send(new DeleteObjectsCommand({ Bucket: deps.bucket, Delete: { Objects: [{ Key: key }, { Key: `${key}-2` }] } })).catch(() => undefined);
      s3.destroy();
    }
  }, 60_000);
});
