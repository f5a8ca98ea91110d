/**
 * Reads and validates a plan file. YAML syntax errors, shape errors and cross-field errors all come back as
 * PlanError with every issue's field path, so the CLI can exit 2 naming the field before anything is created.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { droverRoot } from '../version';
import { planIssues, planSchema, type FarmPlan, type PlanIssue } from './schema';

export const DEFAULT_PLAN = path.join(droverRoot(), 'configs', 'plans', 'farm.yml');

export class PlanError extends Error {
  override readonly name = 'PlanError';
  constructor(
    readonly file: string,
    readonly issues: PlanIssue[],
  ) {
    super(`${file}: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
  }
}

const fieldPath = (p: PropertyKey[]): string => p.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');

/** Validates a parsed document; throws PlanError naming each bad field. */
export function validatePlan(doc: unknown, file = '<plan>'): FarmPlan {
  const r = planSchema.safeParse(doc);
  if (!r.success) throw new PlanError(file, r.error.issues.map((i) => ({ field: fieldPath(i.path) || '(top level)', message: i.message })));
  const issues = planIssues(r.data);
  if (issues.length) throw new PlanError(file, issues);
  return r.data;
}

export function loadPlan(file = DEFAULT_PLAN): FarmPlan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PlanError(file, [{ field: '--plan', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    const line = err instanceof YAMLParseError ? err.linePos?.[0]?.line : undefined;
    throw new PlanError(file, [{ field: line ? `line ${line}` : '(yaml)', message: (err as Error).message.split('\n')[0] }]);
  }
  return validatePlan(doc, file);
}
