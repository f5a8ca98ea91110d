/** runningTasks (lib/swarm-running.ts): what counts as a running task, as `docker service ls` counts it. */
import { describe, expect, it } from 'vitest';
import { runningTasks, tasksOnLiveNodes } from '../../lib/swarm-running';

describe('runningTasks', () => {
  const nodes = [
    { ID: 'a', Status: { State: 'ready' } },
    { ID: 'b', Status: { State: 'down' } },
    { ID: 'c', Status: { State: 'unknown' } },
  ];
  it('counts running tasks on nodes the manager knows and does not see down', () => {
    const tasks = [
      { NodeID: 'a', Status: { State: 'running' } },
      { NodeID: 'a', Status: { State: 'starting' } },
      // A node that died: its task's last state is still "running" in the manager's list.
      { NodeID: 'b', Status: { State: 'running' } },
      // A node removed from the swarm (scale-in): the manager no longer lists it.
      { NodeID: 'gone', Status: { State: 'running' } },
      // Not yet assigned to a node.
      { Status: { State: 'pending' } },
      { NodeID: 'c', Status: { State: 'running' } },
    ];
    expect(runningTasks(tasks, nodes)).toEqual([tasks[0], tasks[5]]);
    // Whatever their state (a restart waits for a starting task too), but only on live nodes.
    expect(tasksOnLiveNodes(tasks, nodes)).toEqual([tasks[0], tasks[1], tasks[5]]);
  });
});
