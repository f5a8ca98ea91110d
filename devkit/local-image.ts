/**
 * The one image the local provider needs, built here because no registry can be reached: a root filesystem with
 * Debian's static busybox (sh, httpd, wget, …) and a one-line page, as a tarball `docker import` takes.
 * Idempotent: an existing tarball is reused.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const LOCAL_IMAGE = 'drover/busybox:local';
const APPLETS = ['sh', 'httpd', 'wget', 'ls', 'cat', 'echo', 'sleep', 'hostname', 'ip', 'nc', 'ps'];

export async function buildLocalImageTar(dir: string): Promise<string> {
  const out = path.join(dir, 'busybox-rootfs.tar');
  if (existsSync(out)) return out;
  if (!existsSync('/bin/busybox')) throw new Error('the local provider needs /bin/busybox (Debian package busybox-static)');
  const root = mkdtempSync(path.join(os.tmpdir(), 'drover-rootfs-'));
  try {
    for (const d of ['bin', 'www', 'tmp', 'etc']) mkdirSync(path.join(root, d), { recursive: true });
    copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
    for (const a of APPLETS) symlinkSync('busybox', path.join(root, 'bin', a));
    writeFileSync(path.join(root, 'www/index.html'), '<h1>drover</h1>\n');
    writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
    mkdirSync(dir, { recursive: true });
    await run('tar', ['-C', root, '-cf', `${out}.part`, '.']);
    await run('mv', [`${out}.part`, out]);
    return out;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
