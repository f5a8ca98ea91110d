/** `drover audit`: who did what to which site, and when, from drover_meta.audit_events (kept past history retention). */
import { Command } from 'commander';
import { z } from 'zod';
import { listAuditEvents, type AuditEvent } from '../../lib/audit';
import { action, globals, parseOptions } from '../output';
import { withServices } from '../services';

const optionsSchema = z.object({
  site: z.string().regex(/^[a-z0-9.-]{1,253}$/, 'a domain (lower-case letters, digits, dots, dashes)').optional(),
  since: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/, 'a date (YYYY-MM-DD, UTC) or an ISO timestamp')
    .refine((s) => {
      const [y, m, d] = s.slice(0, 10).split('-').map(Number);
      return new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d && m >= 1 && m <= 12;
    }, 'not a real date')
    .transform((s) => new Date(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s))
    .refine((d) => !Number.isNaN(d.getTime()), 'not a real date')
    .optional(),
  operation: z.string().regex(/^[a-zA-Z]{1,128}$/, 'an operation name such as restoreSite or siteBackup').optional(),
});

export function formatAudit(events: AuditEvent[]): string {
  if (!events.length) return 'no audit events';
  return events
    .map((e) => `${e.at.toISOString()}  ${e.operator.padEnd(16)} ${e.operation.padEnd(18)} ${(e.site ?? '-').padEnd(32)} ${e.outcome}${e.failureType ? ` (${e.failureType})` : ''}  ${e.workflowId}${e.detail ? `  ${e.detail}` : ''}`)
    .join('\n');
}

export function auditCommand(): Command {
  return new Command('audit')
    .description('who did what to which site, and when (each workflow run as it ended; operator as the CLI asserted it)')
    .option('--site <domain>', 'only this site')
    .option('--since <date>', 'only from this date (YYYY-MM-DD, UTC) or ISO timestamp on')
    .option('--operation <name>', 'only this operation (the workflow type without "Workflow": restoreSite, siteBackup, …)')
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const o = parseOptions(optionsSchema, raw);
        const events = await withServices(g.stateDir, (deps) => listAuditEvents(deps.galera, o));
        return { ok: true, data: { events }, text: formatAudit(events) };
      }),
    );
}
