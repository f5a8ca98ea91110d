/**
 * Activities on a swarm's services, through its manager's Docker API (over SSH, the node's pinned host key): wait
 * until a stack's services run exactly their replicas, saying why a task does not run; take worker nodes out
 * without a service running fewer than its tasks. Part of the node activities (createSwarmNodeActivities).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { heartbeat } from '@temporalio/activity';
import type Docker from 'dockerode';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';
import { runningTasks } from '../lib/swarm-running';
import { faultPoint } from './lib/fault-points';
import { withNodeDocker, type NodeAddress } from './lib/node-docker';

/**
 * The label a drain puts on a service it scaled up, holding by how many tasks, in the same update as the replicas: a
 * drain cut off by a worker's crash leaves it, and the retry (or the next drain) scales back what it says.
 */
export const DRAIN_EXTRA_LABEL = 'drover.drain.extra';

/** How recent an ended task's error must be to explain a slot without a task now. */
const RECENT_FAILURE_MS = 10 * 60_000;

/**
 * The latest error of a service's tasks that ended in the last ten minutes (e.g. "task: non-zero exit (137)"), as a
 * list of none or one: an exit of hours ago explains nothing of now.
 */
async function lastFailure(d: Docker, serviceId: string): Promise<string[]> {
  const ended = (await d.listTasks({ filters: { service: [serviceId], 'desired-state': ['shutdown'] } })) as { UpdatedAt?: string; Status: { Err?: string } }[];
  const at = (t: { UpdatedAt?: string }) => Date.parse(t.UpdatedAt ?? '') || 0;
  const last = ended.filter((t) => t.Status.Err && Date.now() - at(t) < RECENT_FAILURE_MS).sort((a, b) => at(b) - at(a))[0];
  return last ? [`last task ended: ${last.Status.Err}`] : [];
}

export function createSwarmServiceActivities({ ssh }: Pick<ActivityDeps, 'ssh'>) {
  const onDocker = <T>(n: NodeAddress, fn: (d: Docker) => Promise<T>): Promise<T> => withNodeDocker(ssh.options.privateKey, n, fn);

  return {
    /**
     * Waits until every replicated service of the stack (of the whole swarm when `name` is left out) runs exactly its
     * desired tasks; reports where they run.
     */
    async waitForStack(input: { manager: NodeAddress; name?: string; timeoutMs?: number }): Promise<{ services: { name: string; desired: number; running: number; nodes: string[] }[] }> {
      const deadline = Date.now() + (input.timeoutMs ?? 600_000);
      const what = input.name === undefined ? 'the swarm' : `stack ${input.name}`;
      return onDocker(input.manager, async (d) => {
        for (;;) {
          const services = (await d.listServices(input.name === undefined ? {} : { filters: { label: [`com.docker.stack.namespace=${input.name}`] } })) as { ID: string; Spec: { Name: string; Mode: { Replicated?: { Replicas: number }; Global?: object } } }[];
          const nodes = (await d.listNodes()) as { ID: string; Description: { Hostname: string }; Status: { State: string } }[];
          const host = (id: string) => nodes.find((n) => n.ID === id)?.Description.Hostname ?? id;
          const out: { name: string; desired: number; running: number; nodes: string[]; why: string[]; tasks: string[] }[] = [];
          for (const s of services) {
            const tasks = (await d.listTasks({ filters: { service: [s.ID], 'desired-state': ['running'] } })) as { ID: string; Slot?: number; NodeID: string; CreatedAt?: string; Status: { State: string; Err?: string } }[];
            const running = runningTasks(tasks, nodes);
            const desired = s.Spec.Mode.Replicated?.Replicas ?? tasks.length;
            // Why a task does not run, as swarm says it (e.g. "no suitable node (insufficient resources on 2 nodes)");
            // with no task even wanted in a slot, the latest failure of one that was (the slot's last exit).
            const why = [...new Set(tasks.filter((t) => t.Status.State !== 'running' && t.Status.Err).map((t) => t.Status.Err!))];
            if (!why.length && tasks.length < desired) why.push(...(await lastFailure(d, s.ID)));
            // Each task as swarm sees it (slot, node and its state, task state, created), for a service that does not settle.
            const seen = tasks.map((t) => `slot ${t.Slot ?? '-'} on ${host(t.NodeID)} (${nodes.find((n) => n.ID === t.NodeID)?.Status.State ?? 'no such node'}) ${t.Status.State} since ${t.CreatedAt ?? '?'}`);
            out.push({ name: s.Spec.Name, desired, running: running.length, nodes: running.map((t) => host(t.NodeID)).sort(), why, tasks: seen });
          }
          const state = (s: (typeof out)[number]): string =>
            `${s.name} ${s.running}/${s.desired}${s.running < s.desired && s.why.length ? ` (${s.why.join('; ')})` : ''}${s.running > s.desired ? ` [${s.tasks.join('; ')}]` : ''}`;
          heartbeat({ stack: input.name ?? '(all)', services: out.map(state) });
          if ((services.length || input.name === undefined) && out.every((s) => s.running === s.desired)) return { services: out.map(({ why: _, tasks: _t, ...s }) => s) };
          if (Date.now() > deadline) throw failure('RemoteCommandFailed', `${what} did not converge: ${out.map(state).join(', ') || 'no services'}`);
          await sleep(1000);
        }
      });
    },

    /**
     * Takes worker nodes out without a site losing its running task: the nodes are paused (nothing new lands
     * there), every replicated service with tasks on them is scaled up by that many and waited on until the extra
     * tasks run elsewhere, then the nodes are drained (their tasks stop) and, once every task they had is replaced (no
     * replacement still waiting out its restart delay), each service goes back to its replica count (also when a wait
     * gives up). Idempotent and safe to retry after a crash: each scale-up is written on the service itself
     * (DRAIN_EXTRA_LABEL, in the same update as its replicas), so a retry takes a labelled service's replicas less
     * the label as its own and scales back what an interrupted drain added, even once nothing is left on the nodes.
     */
    async drainSwarmNodes(input: { manager: NodeAddress; hostnames: string[]; timeoutMs?: number }): Promise<{ moved: Record<string, number> }> {
      const deadline = Date.now() + (input.timeoutMs ?? 600_000);
      return onDocker(input.manager, async (d) => {
        type SwarmNode = { ID: string; Version: { Index: number }; Description: { Hostname: string }; Spec: { Availability: string }; Status: { State: string } };
        type Service = { ID: string; Version: { Index: number }; Spec: { Name: string; Labels?: Record<string, string>; Mode: { Replicated?: { Replicas: number } } } & Record<string, unknown> };
        type Task = { NodeID: string; DesiredState?: string; Status: { State: string } };
        const setAvailability = async (availability: 'pause' | 'drain') => {
          for (const n of (await d.listNodes()) as SwarmNode[]) {
            if (!input.hostnames.includes(n.Description.Hostname) || n.Spec.Availability === availability) continue;
            await d.getNode(n.ID).update({ version: n.Version.Index, ...n.Spec, Availability: availability });
          }
        };
        const nodeIds = async () => ((await d.listNodes()) as SwarmNode[]).filter((n) => input.hostnames.includes(n.Description.Hostname)).map((n) => n.ID);
        // Wanted running, or created and waiting out the restart delay before it starts ("ready"): a replacement for a
        // task on a drained node is such a one for a few seconds, and a scale-down in that window left it to start
        // after, in a slot swarm had just removed (4 tasks of 3, for good).
        const running = async (serviceId: string) => (await d.listTasks({ filters: { service: [serviceId], 'desired-state': ['running', 'ready'] } })) as Task[];
        /** Tasks a drain added to the service and has not taken back (its label), 0 if none. */
        const extraOf = (s: Service) => Number(s.Spec.Labels?.[DRAIN_EXTRA_LABEL] ?? 0) || 0;
        /** Sets the replicas and, in the same update, the label saying how many of them a drain added (none: removed). */
        const setReplicas = async (name: string, replicas: number, extra: number) => {
          const s = (await d.getService(name).inspect()) as Service;
          const { [DRAIN_EXTRA_LABEL]: _, ...labels } = s.Spec.Labels ?? {};
          await d.getService(s.ID).update({ version: s.Version.Index, ...s.Spec, Labels: extra ? { ...labels, [DRAIN_EXTRA_LABEL]: String(extra) } : labels, Mode: { Replicated: { Replicas: replicas } } });
        };
        /** Polls the service until its tasks (wanted running) satisfy `settled`; past the deadline, fails with `why`. */
        const waitTasks = async (name: string, settled: (tasks: Task[], up: Task[], want: number) => boolean, why: (up: Task[], tasks: Task[], want: number) => string) => {
          for (;;) {
            const s = (await d.getService(name).inspect()) as Service;
            const want = s.Spec.Mode.Replicated?.Replicas ?? 0;
            const tasks = await running(s.ID);
            const up = runningTasks(tasks, (await d.listNodes()) as SwarmNode[]);
            heartbeat({ service: name, running: up.length, want });
            if (settled(tasks, up, want)) return;
            if (Date.now() > deadline) throw failure('RemoteCommandFailed', `${name}: ${why(up, tasks, want)}`);
            await sleep(1000);
          }
        };
        const outside = (ids: string[]) => (t: Task) => !ids.includes(t.NodeID);

        await setAvailability('pause');
        const ids = await nodeIds();
        const moved: Record<string, number> = {};
        // Each service scaled up goes back to its replicas, also when a wait below gives up; across a crash of the
        // worker, the retry finds the services' labels.
        const scaleBack = async () => {
          for (const [name, here] of Object.entries(moved)) {
            const s = (await d.getService(name).inspect()) as Service;
            await setReplicas(name, (s.Spec.Mode.Replicated?.Replicas ?? here) - here, 0);
          }
        };
        try {
          for (const s of (await d.listServices()) as unknown as Service[]) {
            if (s.Spec.Mode.Replicated === undefined) continue;
            // A labelled service is one an interrupted drain scaled up: its own replicas are the rest.
            const extra = extraOf(s);
            const replicas = s.Spec.Mode.Replicated.Replicas - extra;
            const here = (await running(s.ID)).filter((t) => ids.includes(t.NodeID)).length;
            // Tasks still on the nodes are what to move; none left but a label: the interrupted drain moved them.
            const added = here || extra;
            if (!added) continue;
            if (added !== extra) {
              await setReplicas(s.Spec.Name, replicas + added, added);
              faultPoint('drain-scaled-up');
            }
            // Only once the service holds them: a scale-up that failed has nothing to scale back.
            moved[s.Spec.Name] = added;
            await waitTasks(s.Spec.Name, (_, up) => up.filter(outside(ids)).length >= replicas, (up) => `only ${up.filter(outside(ids)).length} of ${replicas} tasks run outside ${input.hostnames.join(', ')}`);
          }
          await setAvailability('drain');
          // Before any service scales back: no task left on the drained nodes, no replacement still waiting out its
          // restart delay, and at least the service's own replicas running elsewhere. Not every replacement need run:
          // the other nodes may have room for its replicas only (reservations), which is all the scale-up asked of them.
          for (const [name, here] of Object.entries(moved)) {
            await waitTasks(
              name,
              (tasks, up, want) => tasks.every((t) => t.DesiredState !== 'ready' && outside(ids)(t)) && up.filter(outside(ids)).length >= want - here,
              (up, tasks, want) => `${up.filter(outside(ids)).length} of ${want - here} tasks run outside ${input.hostnames.join(', ')} after the drain (${tasks.length} wanted running or starting)`,
            );
          }
          faultPoint('drain-drained');
        } catch (err) {
          await scaleBack().catch(() => undefined);
          throw err;
        }
        await scaleBack();
        // Settled: exactly its replicas running, none on the drained nodes, no replacement still starting or stopping.
        for (const name of Object.keys(moved)) {
          await waitTasks(
            name,
            (tasks, up, want) => tasks.length === want && up.length === want && up.every(outside(ids)),
            (up, tasks, want) => `${up.length} tasks run (${tasks.length} wanted running), not settled at ${want} outside ${input.hostnames.join(', ')}`,
          );
        }
        return { moved };
      });
    },
  };
}
