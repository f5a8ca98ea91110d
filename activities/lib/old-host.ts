/**
 * Talking to a migration's old host: SSH with the migration key (deps.migrateSsh) and its database through the
 * old host's own client programs. The database password is read from the file the input names, on this worker,
 * and reaches the old host only on a command's standard input, written there into a mode-0600 temporary option
 * file that the command removes on exit: never in a command line (`ps`), an environment, a log or history.
 */
import { readFile } from 'node:fs/promises';
import type { MigrationSource } from '../../lib/migration-input';
import { classifyMariadbClientExit, failure } from '../../lib/clients/errors';
import { SshClient, type SshOptions } from '../../lib/clients/ssh-client';

export const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The fields of a migration row the activities need (the row without its line number). */
export type SourceRef = Omit<MigrationSource, 'line'>;

export async function connectOldHost(opts: SshOptions, src: Pick<SourceRef, 'ssh'>, signal?: AbortSignal): Promise<SshClient> {
  return SshClient.connect({ host: src.ssh.host, port: src.ssh.port, username: src.ssh.user }, { ...opts, readyTimeoutMs: 15_000 }, signal);
}

export async function readPasswordFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw failure('ConfigMissing', `source_db_password_file ${file} cannot be read on the migration worker: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (!password) throw failure('ConfigMissing', `source_db_password_file ${file} is empty`);
  // A line break inside would cut the option file's value (its rest read as an option the client's error quotes).
  if (/[\r\n]/.test(password)) throw failure('ConfigMissing', `source_db_password_file ${file} holds a line break inside the password (one trailing newline is all it may have)`);
  return password;
}

const optionValue = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** A [client] option file for the old host's mysql/mysqldump (sent on stdin, never stored on this worker). */
export function clientOptionFile(src: SourceRef, password: string): string {
  const lines = ['[client]', `user=${optionValue(src.sourceDbUser)}`, `password=${optionValue(password)}`, `host=${optionValue(src.sourceDbHost.host)}`];
  if (src.sourceDbHost.port) lines.push(`port=${src.sourceDbHost.port}`);
  return lines.join('\n') + '\n';
}

/**
 * A remote shell command that stores stdin in a private temporary option file and runs `program` (a
 * `command -v` lookup of the first name found) with it; the file is removed whatever happens.
 */
export function withOptionFile(programs: string[], args: string): string {
  const find = programs.map((p) => `command -v ${p}`).join(' || ');
  return `umask 077; p=$(${find}) || { echo 'none of ${programs.join(', ')} found on the old host' >&2; exit 127; }; f=$(mktemp) || exit 1; trap 'rm -f "$f"' EXIT HUP INT TERM; cat > "$f"; "$p" --defaults-extra-file="$f" ${args}`;
}

/** Runs SQL on the old host's database with its own client; rows as arrays of strings (tab-separated batch). */
export async function querySource(ssh: SshClient, src: SourceRef, password: string, sql: string, signal?: AbortSignal): Promise<string[][]> {
  const r = await ssh.exec(withOptionFile(['mysql', 'mariadb'], `--batch --skip-column-names --default-character-set=utf8mb4 -e ${shq(sql)} ${shq(src.sourceDb)}`), {
    stdin: clientOptionFile(src, password),
    signal,
  });
  if (r.code !== 0) {
    const msg = r.stderr.trim().split('\n').slice(-2).join(' | ');
    // The old host's own client, classified as Drover's are: a refused login DatabaseAuthFailed, its server gone or
    // not answering DatabaseUnavailable (retried), else DatabaseQueryFailed.
    throw classifyMariadbClientExit(r.stderr, `query on the old host's database as ${src.sourceDbUser} failed (exit ${r.code}): ${msg}`);
  }
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}
