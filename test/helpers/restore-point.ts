/**
 * Reads restore points back the way a restore does, with the real tools: download → age -d (identity) →
 * zstd -d → mariadb / tar. Used by the backup tests to prove a point restores exactly.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { objectKind, restorePointPrefix, type RestorePointObject } from '../../lib/backup-layout';
import type { ActivityDeps } from '../../activities';
import { writeClientOptionsFile } from '../../activities/lib/mariadb-options-file';
import { listSiteRestorePoints } from '../../lib/restore-points';
import { chooseRestorePoint, parseRestoreAt } from '../../lib/restore-point-choice';
import type { RestoreSiteInput } from '../../workflows/restore-site';
import { scratchDir } from './scratch';

/** The key of a point's database, files or manifest object, whether tagged per upload attempt or plain. */
export async function pointObjectKey(deps: ActivityDeps, site: string, date: string, what: RestorePointObject): Promise<string> {
  const listed = await deps.s3.send(new ListObjectsV2Command({ Bucket: deps.bucket, Prefix: restorePointPrefix(site, date) }));
  const keys = (listed.Contents ?? []).map((o) => o.Key!).filter((k) => objectKind(k.slice(k.lastIndexOf('/') + 1)) === what);
  if (keys.length !== 1) throw new Error(`expected one ${what} object in ${restorePointPrefix(site, date)}, found ${keys.length}`);
  return keys[0];
}

export async function objectBytes(deps: ActivityDeps, key: string): Promise<Buffer> {
  const got = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

function run(cmd: string, args: string[], input: Buffer | null): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => (err += d));
    p.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${cmd} exited ${code}: ${err}`))));
    if (input) p.stdin.end(input);
    else p.stdin.end();
  });
}

export async function decrypt(ciphertext: Buffer, identityFile: string): Promise<Buffer> {
  const compressed = await run('age', ['-d', '-i', identityFile], ciphertext);
  return run('zstd', ['-d', '-q', '-c'], compressed);
}

/** Loads a decrypted SQL dump into a fresh scratch database through the mariadb client. */
export async function loadDump(deps: ActivityDeps, sql: Buffer, database: string): Promise<void> {
  const node = (await deps.galera.syncedNodes())[0];
  await deps.galera.query(node, `DROP DATABASE IF EXISTS \`${database}\``);
  await deps.galera.query(node, `CREATE DATABASE \`${database}\``);
  const options = writeClientOptionsFile(node, deps.galera.credentials, 'load');
  try {
    await run('mariadb', [`--defaults-extra-file=${options.file}`, database], sql);
  } finally {
    options.remove();
  }
}

export async function extractTar(tar: Buffer): Promise<string> {
  const dir = scratchDir('drover-files-');
  await run('tar', ['-C', dir, '-xf', '-'], tar);
  return dir;
}

/** SHA-256 of every regular file under `dir`, by relative path. */
export function treeHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[path.relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

/** A restore's input as a test writes it: the point itself, or `at` (default latest) as an operator gives it. */
export type RestoreArgs = Omit<RestoreSiteInput, 'point'> & ({ point: string } | { at?: string });

/**
 * The restore input with its point: `at` resolved the way `drover restore` resolves it before it starts the
 * restore (lib/restore-point-choice.ts over the bucket's listing), a given point passed as it is.
 */
export async function withPoint(deps: ActivityDeps, args: RestoreArgs): Promise<RestoreSiteInput> {
  if ('point' in args) return args;
  const { at, ...rest } = args;
  const target = parseRestoreAt(at);
  const point = chooseRestorePoint(await listSiteRestorePoints(deps.s3, deps.bucket, { site: args.site, withTakenAt: target.kind === 'time' }), target);
  if (!point) throw new Error(`site ${args.site} has no complete restore point at or before ${at ?? 'latest'}`);
  return { ...rest, point };
}
