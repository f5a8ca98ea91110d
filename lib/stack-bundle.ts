/**
 * A stack file with what `docker stack deploy` needs besides it, so a worker can deploy it on a manager far from
 * the repository: the files its `configs:` name (relative to the stack file, e.g. ../configs/varnish/default.vcl)
 * and the values of the variables it interpolates (${FARM_DOMAIN}, ${ACME_EMAIL:?…}). Variables are settings,
 * never secrets (those are Docker secrets), so the bundle may sit in workflow history.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export interface StackBundle {
  name: string;
  compose: string;
  dependsOn: string[];
  /** Contents of the files the stack's configs name, by their path relative to the stack file's folder. */
  files?: Record<string, string>;
  /** The variables the stack interpolates that are set, by name. */
  env?: Record<string, string>;
}

export class StackBundleError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

const SECRET_NAME = /SECRET|PASSWORD|PASSPHRASE|TOKEN|PRIVATE/i;

/** ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}; $$ is a literal dollar. */
const VARIABLE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])[^}]*)?\}/g;

/** The variables a compose text interpolates, and which of them it requires (`:?` / `?`). */
export function stackVariables(compose: string): { all: string[]; required: string[] } {
  const all = new Set<string>();
  const required = new Set<string>();
  for (const m of compose.matchAll(VARIABLE)) {
    if (!m[1]) continue;
    all.add(m[1]);
    if (m[2]?.endsWith('?')) required.add(m[1]);
  }
  return { all: [...all].sort(), required: [...required].sort() };
}

/**
 * Reads a stack file and bundles its config files and variables. `field` names the option or plan field the
 * stack came from, for errors (a missing config file or required variable is the operator's to fix).
 */
export function loadStackBundle(file: string, name: string, dependsOn: string[], env: Record<string, string | undefined>, field: string): StackBundle {
  let compose: string;
  try {
    compose = readFileSync(file, 'utf8');
  } catch (err) {
    throw new StackBundleError(field, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const doc = (parse(compose) ?? {}) as { configs?: Record<string, { file?: string }> };
  const files: Record<string, string> = {};
  for (const [key, cfg] of Object.entries(doc.configs ?? {})) {
    if (!cfg?.file) continue;
    const rel = path.posix.normalize(cfg.file);
    if (path.isAbsolute(rel) || rel.split('/').filter((p) => p === '..').length > 1) throw new StackBundleError(field, `${file}: configs.${key}.file ${cfg.file} must be inside the repository (next to stacks/)`);
    try {
      files[rel] = readFileSync(path.resolve(path.dirname(file), rel), 'utf8');
    } catch (err) {
      throw new StackBundleError(field, `${file}: configs.${key}.file ${cfg.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const vars = stackVariables(compose);
  // The values travel in workflow history: a stack must take secrets as Docker secrets, never as variables.
  const secretLike = vars.all.filter((v) => SECRET_NAME.test(v));
  if (secretLike.length) throw new StackBundleError(field, `${file} interpolates ${secretLike.join(', ')}: pass secrets as Docker secrets (secrets: in the stack), not variables`);
  const missing = vars.required.filter((v) => !env[v]);
  if (missing.length) throw new StackBundleError(field, `${file} needs ${missing.join(', ')} (see configs/env.example)`);
  const values = Object.fromEntries(vars.all.filter((v) => env[v] !== undefined).map((v) => [v, env[v] as string]));
  return { name, compose, dependsOn, ...(Object.keys(files).length ? { files } : {}), ...(Object.keys(values).length ? { env: values } : {}) };
}
