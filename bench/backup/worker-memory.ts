/**
 * Backup worker memory through one night (docs/benchmarks.md, issue 18's ≤ 300 MB): the same generated sites backed
 * up by the built backup worker (dist/workers/backup.js) started once per variant of Node flags, its RSS idle, at
 * its peak (VmHWM) and after the night read from /proc, the night's wall time and the worker's CPU-seconds (its own
 * and its reaped programs'), to compare variants run side by side, not as figures of their own.
 *   npm run build && npx vite-node bench/backup/worker-memory.ts -- --sites 100 --variants '|--max-semi-space-size=4'
 * Variants are separated by `|` (an empty one: Node's defaults); in a variant, NAME=value words set the worker's
 * environment (e.g. MALLOC_ARENA_MAX=2), the word `deployed` the stack's memory settings (stacks/drover.yml's
 * backup-worker), `root=<dir>` runs another checkout's built worker (older code, side by side) and the other
 * words are Node flags. The environment lives in --state-dir (.drover-bench).
 */
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { devUp } from '../../devkit/dev-env';
import { generateDemoSites } from '../../devkit/dev-env/demo-sites';
import { mergedEnv, parseEnv, workerEnvSchema } from '../../lib/env';
import { droverDataConverter } from '../../lib/data-converter';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { nightlyBackupWorkflow } from '../../workflows/nightly-backup';
import { runMain } from '../lib/shell';
import { text, whole } from '../lib/args';
import { processCpuSeconds, procStatus, startWorker } from '../lib/worker-process';
import { takeNights } from '../lib/nights';

const SITES = whole('sites', 100);
const CONCURRENCY = whole('concurrency', 16);
const PORT_OFFSET = whole('port-offset', Number(process.env.DROVER_TEST_PORT_OFFSET ?? 200));
const STATE = path.resolve(text('state-dir') ?? '.drover-bench');
const VARIANTS = text('variants', '').split('|').map((v) => v.trim());
const MiB = 1024 * 1024;
const log = (m: string) => process.stderr.write(`[memory] ${m}\n`);

async function main(): Promise<void> {
  await devUp({ stateDir: STATE, portOffset: PORT_OFFSET, log });
  const env = parseEnv(workerEnvSchema, mergedEnv(STATE));
  const deps = createActivityDeps(env);
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, dataConverter: droverDataConverter(env) });
  try {
    const sites = await generateDemoSites(deps, STATE, { count: SITES, prefix: 'mem', posts: 20, uploadBytes: 64 * 1024, log: () => undefined });
    const results = [];
    for (const variant of VARIANTS) {
      // A variant's words: NAME=value sets the worker's environment, the rest are Node flags.
      const words = variant ? variant.split(/\s+/) : [];
      const flags = words.filter((w) => !/^[A-Z_]+=/.test(w) && w !== 'deployed' && !w.startsWith('root='));
      const root = words.find((w) => w.startsWith('root='))?.slice('root='.length);
      const vars = Object.fromEntries(words.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
      const worker = await startWorker({ queue: 'backup', stateDir: STATE, deployed: words.includes('deployed'), root, nodeFlags: flags, env: vars, settleMs: 5000 });
      const night = async () => {
        const idle = procStatus(worker.proc.pid!, 'VmRSS');
        const t0 = performance.now();
        // A night this environment never backed up (a counter in its folder, days from 2033-01-01).
        const nights = takeNights(STATE, 'bench-memory-nights', 1, '2033-01-01');
        const date = nights.date(nights.day);
        const r = await Promise.race([client.workflow.execute(nightlyBackupWorkflow, { workflowId: `nightly-backup/${date}/memory-${Date.now()}`, taskQueue: TASK_QUEUES.backup, args: [{ date, sites: sites.map((s) => s.domain), concurrency: CONCURRENCY }] }), worker.died]);
        // Points complete already: the night did nothing, and measured nothing (the dates before the counter collided).
        if (r.alreadyComplete) throw new Error(`night ${date}: ${r.alreadyComplete} sites had a complete point of that night already`);
        return { r, idle, after: procStatus(worker.proc.pid!, 'VmRSS'), seconds: (performance.now() - t0) / 1000 };
      };
      // A night that throws stops its worker too.
      const { r, idle, after, seconds } = await night().catch(async (err: unknown) => {
        await worker.stop();
        throw err;
      });
      // The worker's own CPU through the night (and its start), and its reaped programs' (dumps, zstd, age).
      const cpu = processCpuSeconds(worker.proc.pid!);
      const peak = await worker.stop();
      const row = { variant: variant || '(defaults)', sites: sites.length, failed: r.failed.length, idleMiB: Math.round(idle / MiB), peakMiB: Math.round(peak / MiB), afterMiB: Math.round(after / MiB), nightS: Math.round(seconds * 10) / 10, workerCpuS: cpu.own, programsCpuS: cpu.children };
      log(JSON.stringify(row));
      results.push(row);
    }
    process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  } finally {
    await connection.close();
    await closeActivityDeps(deps);
  }
}

runMain(main);
