/** `drover retention plan`: the retention policy's keep/delete decisions, with reasons, for a list of dates. */
import { existsSync, readFileSync } from 'node:fs';
import { Command } from 'commander';
import { dayNumber, InvalidDateError, parseRestorePoints, planRetention, type RetentionPlan } from '../../lib/retention';
import { action, UsageError } from '../output';

export function formatPlan(plan: RetentionPlan): string {
  const lines = [`retention plan at ${plan.now}: keep ${plan.keep}, delete ${plan.delete}`];
  for (const d of plan.decisions) {
    const why = d.reasons.map((r) => (r === 'weekly' || r === 'monthly' ? `${r} ${d.periods.find((p) => (r === 'weekly' ? p.includes('W') : !p.includes('W')))}` : r));
    lines.push(`  ${d.action === 'keep' ? 'keep  ' : 'DELETE'} ${d.date}${d.complete ? '' : ' (incomplete)'}  ${why.join(', ')}`);
  }
  return lines.join('\n');
}

function readPoints(file: string): ReturnType<typeof parseRestorePoints> {
  if (!existsSync(file)) throw new UsageError('--input', `file ${file} does not exist`);
  try {
    return parseRestorePoints(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError('--input', (err as Error).message);
  }
}

export function retentionCommand(): Command {
  const retention = new Command('retention').description('the restore-point retention policy (14 daily, 26 weekly, 12 monthly)');
  retention
    .command('plan')
    .description('print keep/delete with the reasons for each restore point in a file (JSON array or one ISO date per line)')
    .requiredOption('--input <file>', 'the restore points: JSON array of dates or {date, complete}, or one date per line')
    .option('--now <date>', 'the nominal date of the run (YYYY-MM-DD, default: today UTC)')
    .action(
      action(async (opts) => {
        const now = (opts.now as string | undefined) ?? new Date().toISOString().slice(0, 10);
        try {
          dayNumber(now);
        } catch (err) {
          throw new UsageError('--now', (err as Error).message);
        }
        const points = readPoints(opts.input as string);
        let plan: RetentionPlan;
        try {
          plan = planRetention(points, now);
        } catch (err) {
          // What the file says that no plan can take (a date listed twice): the input's fault, named as such.
          if (err instanceof InvalidDateError) throw new UsageError('--input', err.message);
          throw err;
        }
        return { ok: true, data: plan, text: formatPlan(plan) };
      }),
    );
  return retention;
}
