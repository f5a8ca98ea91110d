/**
 * MariaDB's command-line clients (mariadb, mariadb-dump) get the node and Drover's credentials from a 0600
 * options file in a private temporary folder, never on their command line where `ps` would show the password. The
 * folder is a worker folder (worker-folders.ts): one a killed worker left, password and all, is removed when a worker
 * of the same host starts.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { failure } from '../../lib/clients/errors';
import { workerFolder, type WorkerFolderKind } from './worker-folders';

/** Writes the options file (`--defaults-extra-file=<file>`); `remove()` deletes it and its folder. */
export function writeClientOptionsFile(node: { host: string; port: number }, credentials: { user: string; password: string }, kind: Extract<WorkerFolderKind, 'load' | 'dump' | 'migrate-load'>): { file: string; remove: () => void } {
  // An options file value ends at its line: a password with a line break would be cut (and its rest read as an option,
  // which the client's error then quotes). Refused, naming no part of it.
  if (/[\r\n]/.test(credentials.password)) throw failure('ConfigMissing', `the password of database user ${credentials.user} holds a line break: it cannot be given to the MariaDB client`);
  const folder = workerFolder(kind);
  const file = path.join(folder, 'client.cnf');
  const password = credentials.password.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  writeFileSync(file, `[client]\nhost=${node.host}\nport=${node.port}\nuser=${credentials.user}\npassword="${password}"\n`, { mode: 0o600 });
  return { file, remove: () => rmSync(folder, { recursive: true, force: true }) };
}
