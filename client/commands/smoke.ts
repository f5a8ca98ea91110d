/** `drover smoke`: runs the smoke workflow through Temporal against every part of the environment. */
import { runWorkflow } from '../run-workflow';
import { Command } from 'commander';
import { z } from 'zod';
import { READ_ONLY_RUN_TIMEOUT_SECONDS, workflowIds } from '../../lib/contract/ids';
import { smokeWorkflow, type SmokeResult } from '../../workflows/smoke';
import { action, globals, parseOptions } from '../output';
import { webUiLink, withTemporal } from '../temporal';

export interface SmokeRun {
  workflowId: string;
  webUi?: string;
  result: SmokeResult;
}

export function smokeLabel(now = new Date()): string {
  return now.toISOString().slice(0, 19).replace(/[:]/g, '-');
}

/** Runs the smoke workflow; with `inProcessWorker` a drover-infra worker runs in this process meanwhile. */
export async function runSmoke(stateDir: string, label: string, inProcessWorker: boolean): Promise<SmokeRun> {
  const workflowId = workflowIds.smoke(label);
  const result = await withTemporal(stateDir, (client) =>
    runWorkflow(client, { stateDir, queue: 'infra', worker: inProcessWorker, workflow: smokeWorkflow, workflowId, searchAttributes: null, executionTimeoutMs: READ_ONLY_RUN_TIMEOUT_SECONDS * 1000, args: [{ label }] }),
  );
  return { workflowId, webUi: webUiLink(stateDir, workflowId), result };
}

export function formatSmoke(r: SmokeRun): string {
  const res = r.result;
  return [
    `smoke ${r.workflowId}: passed`,
    `  s3      wrote and read back s3://${res.s3.bucket}/${res.s3.key} (${res.s3.bytes} B, sha256 ${res.s3.sha256.slice(0, 12)}…)`,
    `  galera  ${res.galera.synced}/${res.galera.nodes.length} nodes Synced; write on ${res.galera.replication.writtenOn} seen on ${res.galera.replication.readBack.filter((x) => x.seen).map((x) => x.node).join(', ')}`,
    `  ssh     ${res.ssh.target}: ${res.ssh.stdout.trim().replace(/\n/g, ' / ')}`,
    `  docker  ${res.docker.endpoint} engine ${res.docker.serverVersion} (API ${res.docker.apiVersion}, swarm ${res.docker.swarmState})`,
    ...(r.webUi ? [`  history ${r.webUi}`] : []),
  ].join('\n');
}

const optionsSchema = z.object({
  label: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, dot, dash and underscore only (1-100)').optional(),
  worker: z.boolean().default(false),
});

export function smokeCommand(): Command {
  return new Command('smoke')
    .description('run the smoke workflow: S3 round trip, all Galera nodes, a command over SSH, a Docker ping')
    .option('--label <label>', 'workflow label (default: the current time), part of the workflow ID')
    .option('--worker', 'run a drover-infra worker in this process while the workflow runs')
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const o = parseOptions(optionsSchema, raw);
        const r = await runSmoke(g.stateDir, o.label ?? smokeLabel(), o.worker);
        const ok = r.result.galera.synced === 3 && r.result.ssh.code === 0;
        return { ok, data: r, text: formatSmoke(r) };
      }),
    );
}
