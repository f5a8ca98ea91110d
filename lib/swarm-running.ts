/**
 * Which of a service's tasks count as running, the way `docker service ls` counts them (docker/cli's
 * AppendServiceStatus): state `running` on a node the manager knows and does not see down. A node that died or was
 * removed keeps its tasks' last reported state (`running`) in the manager's task list although nothing runs there,
 * while swarm starts their replacements elsewhere: counted raw, a service of 3 showed 4 of 3 for minutes after
 * a scale-in (moby/swarmkit#1270 made the same change upstream).
 */
export interface SwarmTaskLike {
  NodeID?: string;
  Status: { State: string };
}

export interface SwarmNodeLike {
  ID: string;
  Status: { State: string };
}

/** The tasks on a node the manager lists and does not see down (whatever their state). */
export function tasksOnLiveNodes<T extends SwarmTaskLike>(tasks: T[], nodes: SwarmNodeLike[]): T[] {
  const live = new Set(nodes.filter((n) => n.Status.State !== 'down').map((n) => n.ID));
  return tasks.filter((t) => t.NodeID !== undefined && live.has(t.NodeID));
}

export function runningTasks<T extends SwarmTaskLike>(tasks: T[], nodes: SwarmNodeLike[]): T[] {
  return tasksOnLiveNodes(tasks, nodes).filter((t) => t.Status.State === 'running');
}
