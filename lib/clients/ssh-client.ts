/**
 * A small SSH client over ssh2: exec with exit code / stdout / stderr, streaming exec, upload over SFTP.
 * Batch mode only (key auth, no prompts, no agent forwarding). The host key must match a SHA-256 pin: without
 * pins it refuses to connect, unless the caller says `insecureAnyHostKey` (DROVER_SSH_INSECURE_ANY_HOST_KEY, a
 * development switch): an empty pin list must never mean "trust whoever answers".
 */
import { createHash } from 'node:crypto';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { Readable } from 'node:stream';
import { classifySshError, failure } from './errors';

export interface SshTarget {
  host: string;
  port: number;
  username: string;
}

export interface SshOptions {
  privateKey: Buffer | string;
  /** OpenSSH-style fingerprints ("SHA256:base64") the server's host key must match; empty refuses to connect. */
  pinnedHostKeys?: string[];
  /** Development only: with no pins, accept any host key instead of refusing. */
  insecureAnyHostKey?: boolean;
  readyTimeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Parses "user@host:port" (user defaults to root, port to 22). */
export function parseSshTarget(target: string): SshTarget {
  const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:\s]+)(?::(\d+))?$/.exec(target.trim());
  if (!m) throw failure('InvalidInput', `ssh target "${target}" is not of the form user@host[:port]`);
  return { username: m[1] ?? 'root', host: m[2].replace(/^\[|\]$/g, ''), port: m[3] ? Number(m[3]) : 22 };
}

/** The last lines of a command's stderr, on one line: what a failure quotes. */
export function stderrTail(stderr: string, lines = 5): string {
  return stderr.trim().split('\n').slice(-lines).join(' | ');
}

export function formatSshTarget(t: SshTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${t.username}@${host}:${t.port}`;
}

/** OpenSSH's fingerprint format for a raw host key blob. */
export function hostKeyFingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/**
 * The check both SSH paths (this client and the Docker-over-SSH agent) run on a server's host key; throws
 * ConfigMissing (permanent) when there is nothing to check against and the insecure switch is off.
 */
export function hostKeyVerifier(label: string, pins: string[], insecureAnyHostKey = false): (key: Buffer) => boolean {
  if (pins.length === 0 && !insecureAnyHostKey) {
    throw failure('ConfigMissing', `no pinned SSH host key for ${label}: set DROVER_SSH_HOST_KEYS (SHA256:… fingerprints), or DROVER_SSH_INSECURE_ANY_HOST_KEY=1 on a development machine only`);
  }
  return (key) => pins.length === 0 || pins.includes(hostKeyFingerprint(key));
}

/** How long a cancelled command's channel may take to close before its connection is dropped. */
const CANCEL_CONFIRM_MS = 5_000;

export class SshClient {
  private constructor(private readonly conn: Client, readonly target: SshTarget) {}

  static async connect(target: SshTarget, opts: SshOptions, signal?: AbortSignal): Promise<SshClient> {
    const label = formatSshTarget(target);
    const verify = hostKeyVerifier(label, opts.pinnedHostKeys ?? [], opts.insecureAnyHostKey);
    const conn = new Client();
    let hostKeyRejected = false;
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      privateKey: opts.privateKey,
      readyTimeout: opts.readyTimeoutMs ?? 15_000,
      // A peer gone without a word (a node powered off, its network removed) ends the connection, and every command
      // on it, after about 30 s instead of never.
      keepaliveInterval: 10_000,
      tryKeyboard: false,
      hostVerifier: (key: Buffer) => {
        const ok = verify(key);
        if (!ok) hostKeyRejected = true;
        return ok;
      },
    };
    return await new Promise<SshClient>((resolve, reject) => {
      const onAbort = () => {
        conn.end();
        reject(failure('SshUnreachable', `SSH to ${label} cancelled`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      conn
        .once('ready', () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(new SshClient(conn, target));
        })
        .once('error', (err) => {
          signal?.removeEventListener('abort', onAbort);
          if (hostKeyRejected) reject(failure('SshHostKeyMismatch', `SSH host key of ${label} does not match the pinned key`, { cause: err }));
          else reject(classifySshError(err, label));
        })
        .connect(config);
    });
  }

  /** Runs a command to completion; a non-zero exit is returned, not thrown (see `execOrThrow`). */
  async exec(command: string, opts: { stdin?: string | Buffer; signal?: AbortSignal } = {}): Promise<ExecResult> {
    const { channel } = await this.openExec(command);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    channel.on('data', (d: Buffer) => out.push(d));
    channel.stderr.on('data', (d: Buffer) => err.push(d));
    // Cancelled: the channel is closed; a peer that never confirms (gone, or hung) has the connection dropped, which
    // closes the channel here, so a cancelled step never waits on it for good.
    let drop: NodeJS.Timeout | undefined;
    const onAbort = () => {
      channel.close();
      drop = setTimeout(() => this.conn.destroy(), CANCEL_CONFIRM_MS);
    };
    const closed = new Promise<number>((resolve) => channel.once('close', (c: number | null) => resolve(c ?? -1)));
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.stdin !== undefined) channel.end(opts.stdin);
    else channel.end();
    const code = await closed;
    clearTimeout(drop);
    opts.signal?.removeEventListener('abort', onAbort);
    return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  }

  /** Runs a command and throws RemoteCommandFailed on a non-zero exit, with the tail of stderr. */
  async execOrThrow(command: string, opts: { stdin?: string | Buffer; signal?: AbortSignal } = {}): Promise<ExecResult> {
    const r = await this.exec(command, opts);
    if (r.code !== 0) {
      throw failure('RemoteCommandFailed', `command on ${formatSshTarget(this.target)} exited ${r.code}: ${stderrTail(r.stderr)}`, { details: [{ code: r.code }] });
    }
    return r;
  }

  /**
   * Streams a command's stdout. The returned promise for `exit` settles when the command ends; a non-zero exit
   * rejects it with RemoteCommandFailed. `code` settles with the exit code itself (null: a signal; 'dropped': the
   * connection went away), and `stderr()` is what the command wrote there so far (its first and last
   * KEPT_STDERR_BYTES: see keptStderr). `stdin` (e.g. a client option
   * file holding a password) is written to the command's standard input, which is then closed.
   */
  async execStream(
    command: string,
    opts: { stdin?: string | Buffer } = {},
  ): Promise<{ stdout: Readable; exit: Promise<void>; code: Promise<number | null | 'dropped'>; stderr: () => string }> {
    const { channel, exited } = await this.openExec(command);
    const kept = keptStderr(channel);
    const stderr = kept.text;
    if (opts.stdin !== undefined) channel.end(opts.stdin);
    else channel.end();
    const exit = exited.then(async (code) => {
      if (code === 'dropped') throw this.dropped();
      if (code === 0) return;
      await kept.complete();
      throw failure('RemoteCommandFailed', `streamed command on ${formatSshTarget(this.target)} exited ${code}: ${stderr().trim().slice(-500)}`);
    });
    // Handled from now on: a command that fails at once (before the caller's first await is over) must not be an
    // unhandled rejection, which ends the worker's process. Callers still see the rejection through `exit`.
    exit.catch(() => undefined);
    return { stdout: channel, exit, code: exited, stderr };
  }

  /**
   * Opens a command whose stdin the caller writes (e.g. `tar -x` fed a decrypted stream). `stdin` is the remote
   * command's standard input; `exit` settles when it ends, rejecting with RemoteCommandFailed on a non-zero exit.
   */
  async execWithStdin(command: string): Promise<{ stdin: import('node:stream').Writable; exit: Promise<void> }> {
    const { channel, exited } = await this.openExec(command);
    const kept = keptStderr(channel);
    channel.on('data', () => undefined);
    const exit = exited.then(async (code) => {
      if (code === 'dropped') throw this.dropped();
      if (code === 0) return;
      await kept.complete();
      throw failure('RemoteCommandFailed', `command on ${formatSshTarget(this.target)} exited ${code}: ${kept.text().trim().slice(-500)}`);
    });
    return { stdin: channel, exit };
  }

  /** Writes a stream or buffer to a remote path over SFTP (mode 0600 unless told). */
  async upload(data: Readable | Buffer | string, remotePath: string, mode = 0o600): Promise<void> {
    const sftp = await new Promise<import('ssh2').SFTPWrapper>((resolve, reject) =>
      this.conn.sftp((e, s) => (e ? reject(classifySshError(e, formatSshTarget(this.target))) : resolve(s))),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        const ws = sftp.createWriteStream(remotePath, { mode });
        ws.once('close', () => resolve());
        ws.once('error', (e: Error) => reject(failure('RemoteCommandFailed', `upload to ${remotePath} failed: ${e.message}`)));
        if (Buffer.isBuffer(data) || typeof data === 'string') ws.end(data);
        else data.pipe(ws);
      });
    } finally {
      sftp.end();
    }
  }

  close(): void {
    this.conn.end();
  }

  /** Closes the connection at once, without waiting for the peer (a peer that may never answer). */
  destroy(): void {
    this.conn.destroy();
  }

  /** The connection went away before the command ended: retryable (SshUnreachable). */
  private dropped(): Error {
    return failure('SshUnreachable', `SSH connection to ${formatSshTarget(this.target)} closed before its command ended`);
  }

  /**
   * Opens a command's channel, with its exit status (code, or null for a signal) listened for at once: ssh2 emits it
   * as it parses it, and a quick command's reply, output, exit status and close can be read in one go with the
   * channel's opening (a loaded worker), before a caller awaiting this resumes to listen. It then waited forever.
   */
  private openExec(command: string): Promise<{ channel: ClientChannel; exited: Promise<number | null | 'dropped'> }> {
    return new Promise((resolve, reject) =>
      this.conn.exec(command, (e, ch) => {
        if (e) return reject(classifySshError(e, formatSshTarget(this.target)));
        // A channel that closes without an exit status (the connection dropped) settles as 'dropped', not a wait.
        const exited = new Promise<number | null | 'dropped'>((done) => {
          ch.once('exit', (code: number | null) => done(code));
          ch.once('close', () => done('dropped'));
        });
        resolve({ channel: ch, exited });
      }),
    );
  }
}

/** How much of a streamed command's stderr is kept at its start, and again at its end. */
export const KEPT_STDERR_BYTES = 8192;

/**
 * A streamed command's stderr as kept: its first KEPT_STDERR_BYTES (what a login shell or the command says first)
 * and its last (the error that ended it, and what the command writes last on purpose, e.g. the files archive's
 * WordPress version), with a marker between them when more was written. A tar over a docroot of 100,000
 * unreadable files writes megabytes there; 16 at a time on a backup worker must not hold them all.
 */
export function stderrKeeper(): { push: (d: Buffer) => void; text: () => string } {
  const head: Buffer[] = [];
  let headBytes = 0;
  let tail = Buffer.alloc(0);
  let dropped = 0;
  return {
    push(d: Buffer) {
      if (headBytes < KEPT_STDERR_BYTES) {
        const take = d.subarray(0, KEPT_STDERR_BYTES - headBytes);
        head.push(take);
        headBytes += take.length;
        d = d.subarray(take.length);
      }
      if (!d.length) return;
      const joined = Buffer.concat([tail, d]);
      dropped += Math.max(0, joined.length - KEPT_STDERR_BYTES);
      tail = joined.subarray(Math.max(0, joined.length - KEPT_STDERR_BYTES));
    },
    text: () => Buffer.concat(head).toString('utf8') + (dropped ? `\n[… ${dropped} bytes of stderr not kept …]\n` : '') + tail.toString('utf8'),
  };
}

/** How long a failed command's message waits for the rest of its stderr (which may come after its exit status). */
const STDERR_AFTER_EXIT_MS = 5000;

/**
 * The channel's stderr as kept (stderrKeeper), and `complete()`: settles once all of it has come (the stream's end,
 * or the channel's close), or after STDERR_AFTER_EXIT_MS. sshd may send a command's exit status before the last
 * of its stderr (tar's last error, the files archive's version), so a failure's message waits for it.
 */
function keptStderr(channel: ClientChannel): { text: () => string; complete: () => Promise<void> } {
  const kept = stderrKeeper();
  channel.stderr.on('data', (d: Buffer) => kept.push(d));
  const ended = new Promise<void>((done) => {
    channel.stderr.once('end', () => done());
    channel.once('close', () => done());
  });
  return {
    text: kept.text,
    complete: () =>
      new Promise<void>((done) => {
        const timer = setTimeout(done, STDERR_AFTER_EXIT_MS);
        timer.unref();
        void ended.then(() => {
          clearTimeout(timer);
          done();
        });
      }),
  };
}

/** Connects, runs `fn`, always closes. */
export async function withSsh<T>(target: SshTarget, opts: SshOptions, fn: (c: SshClient) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const client = await SshClient.connect(target, opts, signal);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
