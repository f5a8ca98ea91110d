/**
 * Where sites' tasks run, for `drover site show|list`: `siteNodesWorkflow` on drover-infra (it finds the farm's
 * manager and asks `docker service ps` there). The rest of show and list comes from the registry, so when no
 * infra worker polls the nodes are reported unknown, saying so, instead of waiting.
 */
import type { Client } from '@temporalio/client';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import { farmSearchAttributes, siteSearchAttributes } from '../../lib/contract/search-attributes';
import { siteNodesWorkflow, type SiteTask } from '../../workflows/site-status';
import { startOrAttach } from '../temporal';
import { livePollers, waitOnWorker } from '../worker-option';
import { workflowInputRefusal } from '../output';
import { rootCause } from '../../lib/contract/failures';

export type { SiteTask };

/** How long show and list wait for the nodes before reporting them unknown. */
const LOOKUP_WAIT_MS = 20_000;

export interface NodesLookup {
  /** Per stack, its tasks that should be running; null when they could not be asked (see `unknown`). */
  tasks: Record<string, SiteTask[]> | null;
  unknown?: string;
}

/** The farm's tasks of `stacks` through siteNodesWorkflow (null: no worker answered within LOOKUP_WAIT_MS). */
async function askFarm(client: Client, o: { stateDir: string; provider: 'local' | 'digitalocean'; farm: string; stacks: string[]; site?: string; workflowId?: string }): Promise<Record<string, SiteTask[]> | null> {
  const workflowId = o.workflowId ?? (o.site ? workflowIds.siteNodes(o.site) : workflowIds.farmSiteNodes(o.farm));
  const r = await waitOnWorker(client, { stateDir: o.stateDir, queue: 'infra', worker: false, workflowId }, async () => {
    const { handle } = await startOrAttach(client, siteNodesWorkflow, {
      workflowId,
      taskQueue: TASK_QUEUES.infra,
      args: [{ provider: o.provider, farm: o.farm, stacks: o.stacks }],
      workflowExecutionTimeout: '1 minute',
      typedSearchAttributes: o.site ? siteSearchAttributes(o.site, 'site', { farm: o.farm }) : farmSearchAttributes(o.farm, 'site'),
    });
    // A poller the server still remembers may be gone (a worker stopped within the last two minutes): the lookup
    // is given a bounded wait (the lookup itself ends by its timeout).
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), LOOKUP_WAIT_MS)));
    return Promise.race([handle.result(), late]).finally(() => clearTimeout(timer));
  });
  return r ? r.tasks : null;
}

/** The tasks of `stacks` on one farm (null with the reason when no drover-infra worker polls or the lookup failed). */
export async function siteTasksOnFarm(client: Client, o: { stateDir: string; provider: 'local' | 'digitalocean'; farm: string; stacks: string[]; site?: string }): Promise<NodesLookup> {
  if (!o.stacks.length) return { tasks: {} };
  if ((await livePollers(client, 'infra')) === 0) return { tasks: null, unknown: `no worker polls ${TASK_QUEUES.infra}: start \`drover worker infra\` to see the nodes` };
  try {
    const tasks = await askFarm(client, o);
    if (!tasks) return { tasks: null, unknown: `no ${TASK_QUEUES.infra} worker answered within ${LOOKUP_WAIT_MS / 1000} s: start \`drover worker infra\` to see the nodes` };
    return { tasks };
  } catch (err) {
    return { tasks: null, unknown: `asking farm ${o.farm} failed: ${rootCause(err as Error).message}` };
  }
}

/**
 * The farm a migration lands on, checked before it starts: a `--farm` in which no manager is found (a typo: no
 * local cluster of that name, or on DigitalOcean no active manager droplet tagged for it) is refused (exit 2,
 * nothing started) instead of failing at the create step after the whole copy. The check finds the farm's manager
 * on drover-infra as every site operation does (siteNodesWorkflow, no stacks). When no infra worker
 * polls, or the farm cannot be asked, it is left unchecked, saying so on stderr: the site's creation waits on
 * that worker anyway.
 */
export async function checkTargetFarm(client: Client, o: { stateDir: string; provider: 'local' | 'digitalocean'; farm: string }): Promise<void> {
  const unchecked = (why: string): void => void process.stderr.write(`• farm ${o.farm} not checked: ${why}\n`);
  if ((await livePollers(client, 'infra')) === 0) return unchecked(`no worker polls ${TASK_QUEUES.infra} yet; each site's creation runs there (\`drover worker infra\`)`);
  try {
    // Its own workflow ID (with the provider): a `site list` attached to it would get no tasks, and a lookup of a
    // same-named farm of the other provider would answer for this one.
    if (!(await askFarm(client, { ...o, stacks: [], workflowId: workflowIds.farmCheck(o.provider, o.farm) }))) unchecked(`its lookup on ${TASK_QUEUES.infra} did not answer within ${LOOKUP_WAIT_MS / 1000} s (no live worker, or the farm's manager slow to answer)`);
  } catch (err) {
    const refused = workflowInputRefusal(err, { farm: '--farm' }, { suffix: ` (provider ${o.provider})` });
    if (refused) throw refused;
    unchecked(`asking it failed: ${rootCause(err as Error).message}`);
  }
}

/** One line of nodes: `node (address:port, state)` per task, wordpress first. */
export function formatTasks(tasks: SiteTask[] | undefined): string {
  if (!tasks?.length) return 'no task running';
  return tasks.map((t) => `${t.service.replace(/^.*_/, '')} on ${t.node || '(unassigned)'}${t.address ? ` ${t.address}${t.port ? `:${t.port}` : ''}` : ''} (${t.state})`).join(', ');
}
