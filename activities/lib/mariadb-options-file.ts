/**
 * MariaDB's command-line clients (mariadb, mariadb-dump) get the node and Drover's credentials from a 0600
 * options file in a private temporary folder, never on their command line where `ps` would show the password.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Writes the options file (`--defaults-extra-file=<file>`); `remove()` deletes it and its folder. */
export function writeClientOptionsFile(node: { host: string; port: number }, credentials: { user: string; password: string }, prefix: string): { file: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = path.join(dir, 'client.cnf');
  const password = credentials.password.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  writeFileSync(file, `[client]\nhost=${node.host}\nport=${node.port}\nuser=${credentials.user}\npassword="${password}"\n`, { mode: 0o600 });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
