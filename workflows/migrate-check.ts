/**
 * The part of `drover migrate check` only a migration worker can do (issue 15): for each row of the file, the
 * source's pre-flight (password file readable on the worker, old host reachable, WordPress and its prefix found,
 * database login works). Read-only; a bounded number of rows at a time. Each problem names the input line and
 * the field to fix.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import type { SourceRef } from '../activities/lib/old-host';
import type { SourcePreflight } from '../activities/migration-source';
import { probe } from './lib/proxies';

export interface MigrateCheckInput {
  rows: (SourceRef & { line: number })[];
}

export interface MigrateCheckResult {
  problems: { line: number; field: string; message: string }[];
  checked: { line: number; domain: string; preflight: SourcePreflight }[];
}

/** Which input field a pre-flight failure points at. */
const FIELD_FOR_TYPE: Record<string, string> = {
  ConfigMissing: 'source_db_password_file',
  SshUnreachable: 'source_ssh',
  SshAuthFailed: 'source_ssh',
  SshHostKeyMismatch: 'source_ssh',
  MigrationSourceInvalid: 'source_path',
  DatabaseAuthFailed: 'source_db_user',
};

const WINDOW = 8;

/** Pre-flights every row on a migration worker; returns the problems (none: the file can start). */
export async function migrateCheckWorkflow(input: MigrateCheckInput): Promise<MigrateCheckResult> {
  const result: MigrateCheckResult = { problems: [], checked: [] };
  for (let i = 0; i < input.rows.length; i += WINDOW) {
    await Promise.all(
      input.rows.slice(i, i + WINDOW).map(async (row) => {
        try {
          result.checked.push({ line: row.line, domain: row.domain, preflight: await probe.preflightMigrationSource(row) });
        } catch (err) {
          const cause = err instanceof ActivityFailure ? err.cause : err;
          const type = cause instanceof ApplicationFailure ? (cause.type ?? '') : '';
          const message = (cause as Error).message;
          result.problems.push({ line: row.line, field: FIELD_FOR_TYPE[type] ?? (/database/i.test(message) ? 'source_db' : 'source_ssh'), message: `${type ? `${type}: ` : ''}${message}` });
        }
      }),
    );
  }
  result.problems.sort((a, b) => a.line - b.line);
  result.checked.sort((a, b) => a.line - b.line);
  return result;
}
