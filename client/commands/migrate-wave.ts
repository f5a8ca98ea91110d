/**
 * `drover migrate wave start|pause|resume|cancel|retry|skip|concurrency|status` and `drover migrate plan`: migration
 * waves (issue 16), thin. start validates the file (exit 2 naming line and field) and starts or attaches to
 * `wave/<wave>`; the steering commands send the wave's Workflow Updates and print its answer or its refusal (exit 1,
 * the wave unchanged); status reads its progress query. Updates and queries are answered by a drover-migrate
 * worker: with none polling, the command says so instead of waiting.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import { siteSearchAttributes } from '../../lib/contract/search-attributes';
import { normalizeDomain } from '../../lib/domain-input';
import { mergedEnv } from '../../lib/env';
import { DEFAULT_WAVE } from '../../lib/migration-input';
import { readWaveRecord, type WaveRecord } from '../../lib/wave-record';
import { parseSplit, splitWaves, waveNames, wavesCsv } from '../../lib/migration-plan';
import { MAX_WAVE_CONCURRENCY } from '../../workflows/lib/wave-state';
import {
  cancelWaveUpdate, migrationWaveWorkflow, pauseWaveUpdate, resumeWaveUpdate, retryWaveSiteUpdate, setWaveConcurrencyUpdate, skipWaveSiteUpdate,
  waveProgressQuery, type WaveAck, type WaveProgress,
} from '../../workflows/migration-wave';
import { action, globals, updateRefusal, UsageError } from '../output';
import { operatorName, startOrAttach, withTemporal } from '../temporal';
import { withServices } from '../services';
import { livePollers, requireWorker, waitOnWorker, warnWithoutWorker } from '../worker-option';
import { wholeNumber } from '../option-schemas';
import { checkTargetFarm } from './site-nodes';
import { farmProblems, parseCutover, parseTarget, readRows, refuse, toRef, withTargetOptions } from './migration-file';

const WAVE = /^[a-z0-9][a-z0-9-]{0,39}$/;

function waveArg(v: unknown, field = '<wave>'): string {
  const s = String(v ?? '');
  if (!WAVE.test(s)) throw new UsageError(field, `"${s.slice(0, 60)}" is not a wave name (lower-case letters, digits and -, at most 40)`);
  return s;
}

function siteArg(v: unknown): string {
  const d = normalizeDomain(String(v ?? ''));
  if (!d.ok) throw new UsageError('<site>', d.problem);
  return d.domain;
}


/** A refused update: the wave's own words, exit 1. */
class UpdateRefused extends Error {
  override readonly name = 'UpdateRefused';
}

/** The fields a wave's update refuses as the operator's input, as the commands name them. */
const WAVE_FIELDS: Record<string, string> = { site: '<site>', concurrency: '<n>' };

/**
 * Sends one steering update once a migrate worker is there to answer it. A wave that does not exist (a typo) or a
 * site not in it is bad input (exit 2, naming it); what the wave's state refuses (a migrated site retried, an
 * ended wave) becomes UpdateRefused (exit 1).
 */
async function steer<R>(client: Client, stateDir: string, wave: string, send: (h: ReturnType<Client['workflow']['getHandle']>) => Promise<R>): Promise<R> {
  const handle = client.workflow.getHandle(workflowIds.migrationWave(wave));
  await handle.describe().catch(async (err: unknown) => {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    // Gone from the namespace (history retention) but recorded in drover_meta: an ended wave, not a typo.
    const r = await withServices(stateDir, (deps) => readWaveRecord(deps.galera, wave));
    if (r) throw new UpdateRefused(`wave ${wave} is no longer in the namespace (drover_meta records it ${r.state}${r.endedAt ? `, ended ${r.endedAt}` : ''}): nothing to steer`);
    throw new UsageError('<wave>', `no wave ${wave} (workflow ${workflowIds.migrationWave(wave)}, nor a record of it in drover_meta)`);
  });
  await requireWorker(client, 'migrate');
  try {
    return await send(handle);
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      if ((err.cause as (Error & { type?: string }) | undefined)?.type === 'InvalidInput') updateRefusal(err, '<wave>', (f) => WAVE_FIELDS[f] ?? f);
      throw new UpdateRefused(`refused: ${(err.cause as Error | undefined)?.message ?? err.message}`);
    }
    // The wave ended between the look above and the update (the SDK gives an update to a closed workflow as not
    // found): told by its status now, not by the error's words.
    const ended = err instanceof WorkflowNotFoundError || (await handle.describe().then((d) => d.status.name !== 'RUNNING', () => false));
    if (ended) throw new UpdateRefused(`no running wave ${wave} (workflow ${workflowIds.migrationWave(wave)}): ${(err as Error).message}`);
    throw err;
  }
}

const ackText = (a: WaveAck) => `wave ${a.wave}: ${a.message} [${a.state}, concurrency ${a.concurrency}${a.inFlight.length ? `, in flight: ${a.inFlight.join(', ')}` : ''}]`;

/** Counts, a bar, the sites in flight with their step, failures with their cause. */
export function formatProgress(p: WaveProgress, width = 30): string {
  const c = p.counts;
  const settled = c.migrated + c.skipped;
  const filled = p.total ? Math.round((settled / p.total) * width) : width;
  const lines = [
    `wave ${p.wave}: ${p.state} (run ${p.run}, concurrency ${p.concurrency}${p.pausedAt ? `, paused since ${p.pausedAt}` : ''})`,
    `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${settled}/${p.total}  migrated ${c.migrated} · in flight ${c.running} · queued ${c.queued} · failed ${c.failed} · skipped ${c.skipped} · cancelled ${c.cancelled}`,
    ...p.inFlight.map((s) => `  ⇢ ${s.domain}: ${s.paused ? `paused before ${s.step}` : (s.step ?? 'starting')} (since ${s.startedAt})`),
    ...p.failed.map((s) => `  ✗ ${s.domain}: ${s.error ?? 'failed'}`),
  ];
  return lines.join('\n');
}

async function readProgress(client: Client, wave: string, stateDir: string): Promise<WaveProgress> {
  const handle = client.workflow.getHandle<typeof migrationWaveWorkflow>(workflowIds.migrationWave(wave));
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    // Its history is gone (the namespace's retention) or it never ran: drover_meta's record says how it ended.
    const r = await withServices(stateDir, (deps) => readWaveRecord(deps.galera, wave));
    if (!r) throw new UsageError('<wave>', `no wave ${wave} (workflow ${workflowIds.migrationWave(wave)}, nor a record of it in drover_meta)`);
    return fromRecord(r);
  }
  // An ended wave's result is its last progress and needs no worker.
  if (status === 'COMPLETED') return handle.result();
  await requireWorker(client, 'migrate');
  return handle.query(waveProgressQuery, { sites: false });
}

/**
 * The wave's outcome once it ends, or its progress once it waits on its failures (retry or skip them): nothing more
 * happens without an operator then, so `start --wait` returns (exit 1, the failures listed) instead of waiting on.
 */
async function endedOrWaiting(handle: ReturnType<Client['workflow']['getHandle']>): Promise<WaveProgress> {
  const ended = handle.result() as Promise<WaveProgress>;
  for (;;) {
    const r = await Promise.race([ended, new Promise<null>((res) => setTimeout(() => res(null), 2000))]);
    if (r) return r;
    // (a query may fail while the wave continues as new: ask again at the next turn)
    const p = await handle.query(waveProgressQuery, { sites: false }).catch(() => null);
    if (p?.state === 'waiting') return p;
  }
}

/**
 * A wave as drover_meta recorded it, in the shape the status prints: the counts and failures at its last write
 * (its end, or its start when it never ended, e.g. terminated), no sites in flight, marked as from the record.
 */
function fromRecord(r: WaveRecord): WaveProgress & { recorded: { workflowId: string; fileDigest: string; operator: string } } {
  const counts = { queued: 0, running: 0, migrated: 0, failed: 0, skipped: 0, cancelled: 0, ...r.counts } as WaveProgress['counts'];
  return {
    wave: r.wave, state: (r.state === 'running' ? 'running' : r.state) as WaveProgress['state'], concurrency: r.concurrency, total: r.total, counts, inFlight: [],
    failed: r.failed.map((f) => ({ domain: f.domain, state: 'failed', attempts: f.attempts, ...(f.error ? { error: f.error } : {}) })) as WaveProgress['failed'],
    startedAt: r.startedAt, ...(r.endedAt ? { endedAt: r.endedAt } : {}), run: 0,
    recorded: { workflowId: r.workflowId, fileDigest: r.fileDigest, operator: r.operator },
  };
}

export function waveCommand(): Command {
  return addWaveCommands(new Command('wave').description('migrate many sites as one steerable wave (workflow wave/<wave> on drover-migrate)'));
}

/**
 * The wave's commands (start, pause, resume, cancel, retry, skip, concurrency, status) added to `wave`: under
 * `drover migrate wave …` and, as the issue names them, directly under `drover migrate …`.
 */
export function addWaveCommands(wave: Command): Command {
  withTargetOptions(wave.command('start'))
    .description('start (or resume: migrated sites are reported, not redone) the wave of a migration file')
    .requiredOption('--file <file>', 'CSV or YAML migration file (e.g. one written by `drover migrate plan`)')
    .option('--wave <name>', "the wave's name (default: the file's wave column, which must then name one wave)")
    .option('--wave-id <name>', 'the same as --wave')
    .option('--concurrency <n>', `sites in flight at once (1 to ${MAX_WAVE_CONCURRENCY})`, '5')
    .option('--sites-per-run <n>', 'sites started per run before the wave continues as new', '100')
    .option('--wait', 'wait for the wave to end, or to wait on failed sites (exit 1), and print its progress')
    .option('--worker', 'run a drover-migrate worker in this process meanwhile (implies --wait)')
    .action(
      action(async (opts, cmd) => {
        const g = globals(cmd);
        const { file, rows, hash } = readRows(opts.file);
        const named = [...new Set(rows.map((r) => r.wave).filter((w) => w !== DEFAULT_WAVE))];
        if (opts.wave !== undefined && opts.waveId !== undefined && opts.wave !== opts.waveId) throw new UsageError('--wave-id', 'give --wave or --wave-id, not both');
        const given = opts.wave ?? opts.waveId;
        const name = given !== undefined ? waveArg(given, opts.wave !== undefined ? '--wave' : '--wave-id') : named.length === 1 ? named[0] : named.length ? '' : DEFAULT_WAVE;
        if (!name) throw new UsageError('--wave', `${file} holds the waves ${named.join(', ')}: name one with --wave`);
        const selected = rows.filter((r) => r.wave === name || r.wave === DEFAULT_WAVE);
        if (!selected.length) throw new UsageError('--wave', `no row of ${file} belongs to wave ${name}`);
        const concurrency = wholeNumber(opts.concurrency, '--concurrency', MAX_WAVE_CONCURRENCY);
        const sitesPerRun = wholeNumber(opts.sitesPerRun, '--sites-per-run', 10_000);
        const target = parseTarget(opts);
        const cutover = parseCutover(opts, target, g.stateDir);
        const workflowId = workflowIds.migrationWave(name);
        return withTemporal(g.stateDir, async (client) => {
          // A site this wave already migrated is on the farm by its own doing: resuming the wave reports it.
          const migratedHere = async (domain: string) =>
            (await client.workflow.getHandle(workflowIds.migrate(name, domain)).describe().catch(() => null))?.status.name === 'COMPLETED';
          const onFarm = [];
          for (const p of await farmProblems(g.stateDir, selected)) if (!(await migratedHere(selected.find((r) => r.line === p.line)!.domain))) onFarm.push(p);
          if (onFarm.length) refuse(file, onFarm);
          // A --farm naming no cluster: refused now, not at the create step after the copy.
          if (target) await checkTargetFarm(client, { stateDir: g.stateDir, provider: target.provider, farm: target.farm });
          // Waiting with no worker would start a wave nobody runs: refused before it starts (as restores are).
          if (opts.wait && !opts.worker) await requireWorker(client, 'migrate');
          const { handle, attached } = await startOrAttach(client, migrationWaveWorkflow, {
            workflowId,
            taskQueue: TASK_QUEUES.migrate,
            args: [{ wave: name, sources: selected.map((r) => ({ ...toRef(r), wave: name })), concurrency, sitesPerRun, ...(target ? { target } : {}), ...(cutover ? { cutover } : {}), fileDigest: hash, operator: operatorName(mergedEnv(g.stateDir).DROVER_OPERATOR) }],
            typedSearchAttributes: siteSearchAttributes(null, 'migrate', { wave: name }),
          });
          const said = `${attached ? 'attached to the running' : 'started'} ${workflowId}: ${selected.length} site(s), concurrency ${concurrency}`;
          if (!opts.wait && !opts.worker) {
            await warnWithoutWorker(client, 'migrate');
            return { ok: true, data: { workflowId, attached, sites: selected.length }, text: said };
          }
          process.stderr.write(`• ${said}\n`);
          const r = await waitOnWorker(client, { stateDir: g.stateDir, queue: 'migrate', worker: Boolean(opts.worker), workflowId }, () => endedOrWaiting(handle));
          return { ok: r.state === 'done', data: r, text: formatProgress(r) };
        });
      }),
    );
  const simple = (verb: 'pause' | 'resume' | 'cancel', description: string) =>
    wave
      .command(`${verb} <wave>`)
      .description(description)
      .action(
        action(async (_opts, cmd, args) => {
          const g = globals(cmd);
          const name = waveArg(args[0]);
          return withTemporal(g.stateDir, async (client) => {
            // A cancel waits for the sites in flight to roll back, and a site already created is removed through its
            // entity on drover-infra: say so when nothing polls there (the answer waits on it).
            if (verb === 'cancel' && (await livePollers(client, 'infra')) === 0) process.stderr.write(`• no worker polls ${TASK_QUEUES.infra}: a site in flight that was already created rolls back, and this cancel answers, only once one does (\`drover worker infra\`)\n`);
            const a = await steer(client, g.stateDir, name, (h) => (verb === 'pause' ? h.executeUpdate(pauseWaveUpdate) : verb === 'resume' ? h.executeUpdate(resumeWaveUpdate) : h.executeUpdate(cancelWaveUpdate)));
            return { ok: true, data: a, text: ackText(a) };
          });
        }),
      );
  simple('pause', 'start no more sites (from the acknowledgement on); sites in flight finish their current step and wait');
  simple('resume', 'resume a paused wave');
  simple('cancel', 'start nothing new and roll back the sites in flight; migrated sites stay (waits for the rollback)');
  for (const verb of ['retry', 'skip'] as const) {
    wave
      .command(`${verb} <wave> <site>`)
      .description(verb === 'retry' ? 'migrate a failed (or cancelled) site of the wave again' : 'leave a queued or failed site out of the wave')
      .action(
        action(async (_opts, cmd, args) => {
          const g = globals(cmd);
          const name = waveArg(args[0]);
          const site = siteArg(args[1]);
          return withTemporal(g.stateDir, async (client) => {
            const a = await steer(client, g.stateDir, name, (h) => h.executeUpdate(verb === 'retry' ? retryWaveSiteUpdate : skipWaveSiteUpdate, { args: [{ site }] }));
            return { ok: true, data: a, text: ackText(a) };
          });
        }),
      );
  }
  wave
    .command('concurrency <wave> <n>')
    .description('set how many sites are in flight at once (from the next start)')
    .action(
      action(async (_opts, cmd, args) => {
        const g = globals(cmd);
        const name = waveArg(args[0]);
        const n = wholeNumber(args[1], '<n>', MAX_WAVE_CONCURRENCY);
        return withTemporal(g.stateDir, async (client) => {
          const a = await steer(client, g.stateDir, name, (h) => h.executeUpdate(setWaveConcurrencyUpdate, { args: [{ concurrency: n }] }));
          return { ok: true, data: a, text: ackText(a) };
        });
      }),
    );
  wave
    .command('status <wave>')
    .description("the wave's progress: counts, a bar, the sites in flight with their step, failures with their cause")
    .option('--watch', 'keep showing it (every second) until the wave ends')
    .action(
      action(async (opts, cmd, args) => {
        const g = globals(cmd);
        const name = waveArg(args[0]);
        return withTemporal(g.stateDir, async (client) => {
          let p = await readProgress(client, name, g.stateDir);
          if (opts.watch && !g.json) {
            const tty = process.stdout.isTTY;
            let last = '';
            while (p.state !== 'done' && p.state !== 'cancelled') {
              const text = formatProgress(p);
              if (tty) process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
              else if (text !== last) process.stdout.write(`${text}\n`);
              last = text;
              await new Promise((r) => setTimeout(r, 1000));
              p = await readProgress(client, name, g.stateDir);
            }
          }
          const rec = (p as Partial<ReturnType<typeof fromRecord>>).recorded;
          const from = rec ? `wave ${name}: from drover_meta (${rec.workflowId}'s history is gone), started by ${rec.operator || '?'} from a file with digest ${rec.fileDigest || '?'}\n` : '';
          return { ok: p.state !== 'cancelled' && p.counts.failed === 0, data: p, text: from + formatProgress(p) };
        });
      }),
    );
  return wave;
}

/** `drover migrate plan --file F --split 10,40,50 [--names a,b,c] [--out-dir D]`: one file per wave. */
export function planCommand(): Command {
  return new Command('plan')
    .description('split a migration file into wave files (stable: hash-ordered; a row\'s wave column pins it)')
    .requiredOption('--file <file>', 'CSV or YAML migration file')
    .requiredOption('--split <percents>', 'percentages of the waves, adding up to 100 (e.g. 10,40,50)')
    .option('--names <names>', 'the waves\' names (default pilot,bulk,final for three waves, else wave-1…)')
    .option('--out-dir <dir>', 'where the wave files go (default: beside the file)')
    .action(
      action(async (opts) => {
        const split = parseSplit(String(opts.split ?? ''));
        if (!split.ok) throw new UsageError('--split', split.message);
        const names = waveNames(split.percents.length, opts.names === undefined ? undefined : String(opts.names));
        if (!names.ok) throw new UsageError('--names', names.message);
        const { file, rows } = readRows(opts.file);
        const r = splitWaves(rows, split.percents, names.names);
        if (!r.ok) refuse(file, r.problems);
        const dir = typeof opts.outDir === 'string' ? opts.outDir : path.dirname(file);
        const base = path.basename(file).replace(/\.(csv|ya?ml)$/i, '');
        mkdirSync(dir, { recursive: true });
        const written = r.waves.map((w) => {
          const out = path.join(dir, `${base}.${w.name}.csv`);
          writeFileSync(out, wavesCsv(w.rows));
          return { wave: w.name, percent: w.percent, sites: w.rows.length, file: out };
        });
        return { ok: true, data: { file, waves: written }, text: written.map((w) => `${w.wave.padEnd(12)} ${String(w.sites).padStart(4)} site(s) (${w.percent}%) → ${w.file}`).join('\n') };
      }),
    );
}
