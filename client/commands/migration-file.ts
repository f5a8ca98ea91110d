/** The migration file as every `drover migrate` command reads it: parsed, refused with line and field, checked against the farm. */
import { LOCAL_WORDPRESS_IMAGE } from '../../lib/site-names';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { formatProblem, parseMigrationInput, type InputProblem, type MigrationSource } from '../../lib/migration-input';
import { getSite } from '../../lib/site-registry';
import type { Command } from 'commander';
import type { MigrationTarget } from '../../workflows/migrate-site';
import { mergedEnv } from '../../lib/env';
import { UsageError } from '../output';
import { withServices } from '../services';

/** Exit 2 with every problem listed (the first one's field names the error). */
export function refuse(file: string, problems: InputProblem[]): never {
  const e = new UsageError(problems[0].field, problems.map((p) => formatProblem(file, p)).join('\n  '));
  (e as UsageError & { problems?: InputProblem[] }).problems = problems;
  throw e;
}

export function readRows(file: unknown): { file: string; rows: MigrationSource[]; hash: string } {
  if (typeof file !== 'string' || !file) throw new UsageError('--file', 'required: a CSV or YAML migration file');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError('--file', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const parsed = parseMigrationInput(text, file);
  if (!parsed.ok) refuse(file, parsed.problems);
  return { file, rows: parsed.rows, hash: createHash('sha256').update(text).digest('hex').slice(0, 16) };
}

/** Domains already on the farm: a migration never lands on a site that exists. */
export async function farmProblems(stateDir: string, rows: MigrationSource[]): Promise<InputProblem[]> {
  return withServices(stateDir, async (deps) => {
    const out: InputProblem[] = [];
    for (const r of rows) {
      const s = await getSite(deps.galera, r.domain);
      if (s && s.status !== 'deleted') out.push({ line: r.line, field: 'domain', message: `${r.domain} is already on the farm (site registry, database ${s.database}): not migrating over it` });
    }
    return out;
  });
}

export const toRef = ({ line: _line, ...ref }: MigrationSource) => ref;


/** Where migrated sites land: the options of `migrate site` and `migrate wave start`. */
export function withTargetOptions(c: Command): Command {
  return c
    .option('--farm <name>', 'the cluster the site lands on', 'local')
    .option('--provider <provider>', "the cluster's provider: local or digitalocean", 'local')
    .option('--php <version>', "PHP version of the site's image", '8.2')
    .option('--stage-only', 'stop at a staged, rewritten, checked copy (files and staging database) without creating the site')
    .option('--cutover', "switch each domain to the farm: A record TTL lowered first, the source frozen (WordPress maintenance mode) for a last sync, the A record pointed at the farm (DigitalOcean's domains API; needs DROVER_DO_TOKEN)")
    .option('--cutover-ttl <seconds>', 'the TTL the A record is lowered to before the final copy (30 to 3600)', '60');
}

/**
 * The cutover those options ask for (undefined without --cutover). It needs a target and a DigitalOcean token,
 * read as the DigitalOcean provider reads it (DROVER_DO_TOKEN or DROVER_DO_TOKEN_FILE, from the environment or the
 * state directory's env file): the CLI refuses before anything starts rather than the worker after the copy.
 */
export function parseCutover(opts: { cutover?: unknown; cutoverTtl?: unknown }, target: MigrationTarget | undefined, stateDir: string): { ttlSeconds: number } | undefined {
  if (!opts.cutover) return undefined;
  if (!target) throw new UsageError('--cutover', 'a cutover points the domain at the farm: it does not go with --stage-only');
  const ttl = Number(opts.cutoverTtl ?? 60);
  if (!Number.isInteger(ttl) || ttl < 30 || ttl > 3600) throw new UsageError('--cutover-ttl', `"${String(opts.cutoverTtl)}": whole seconds from 30 (DigitalOcean's least) to 3600`);
  const env = mergedEnv(stateDir);
  if (!env.DROVER_DO_TOKEN && !env.DROVER_DO_TOKEN_FILE) throw new UsageError('DROVER_DO_TOKEN', "--cutover switches the domain's A record through DigitalOcean's domains API: set DROVER_DO_TOKEN (or DROVER_DO_TOKEN_FILE) for this command and the migrate worker");
  return { ttlSeconds: ttl };
}

/** The target those options name (undefined with --stage-only); bad values are usage errors naming the option. */
export function parseTarget(opts: { farm?: unknown; provider?: unknown; php?: unknown; stageOnly?: unknown }): MigrationTarget | undefined {
  if (opts.stageOnly) return undefined;
  const farm = String(opts.farm ?? '');
  if (!/^[a-z][a-z0-9-]{0,20}$/.test(farm)) throw new UsageError('--farm', `"${farm}": lower-case letters, digits and -, starting with a letter, at most 21`);
  if (opts.provider !== 'local' && opts.provider !== 'digitalocean') throw new UsageError('--provider', `"${String(opts.provider)}": local or digitalocean`);
  if (!/^(7\.4|8\.[0-4])$/.test(String(opts.php))) throw new UsageError('--php', `"${String(opts.php)}": a PHP version the image ships: 7.4 or 8.0–8.4`);
  return { farm, provider: opts.provider, phpVersion: String(opts.php), ...(opts.provider === 'local' ? { image: LOCAL_WORDPRESS_IMAGE } : {}) };
}
