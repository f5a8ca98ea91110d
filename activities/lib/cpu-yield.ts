/**
 * A restore's files branch gives way to its database load. The two run side by side, and the load is the longer
 * branch: on a machine whose cores both serve (this project's development machine, where the Galera nodes, the
 * storage node's sshd and the restore worker share two cores) every CPU-second the files branch takes from the
 * load lengthens the whole restore, while the files branch has time to spare (docs/benchmarks.md). On the farm the
 * storage node's extract yields to the sites that node serves.
 */

/** The nice value the files branch's programs run at: what `nice` gives by default. */
export const FILES_BRANCH_NICE = 10;

/**
 * Shell words (bash or sh) that lower the CPU priority of the shell they run in and of every program it starts:
 * its own nice value, which the kernel weighs against the processes of the same CPU cgroup (a container's, a
 * systemd unit's), and its session's autogroup's, which is what the kernel weighs between sessions of the root
 * cgroup when autogroups are on (sched(7): there a process's own nice counts only within its session). The shell
 * must lead its session (a detached spawn, an SSH command), or the autogroup is shared with others. Best effort:
 * without autogroups, or a write refused, nothing is printed and nothing fails.
 */
export const yieldCpuShell = `{ echo ${FILES_BRANCH_NICE} > /proc/self/autogroup; renice -n ${FILES_BRANCH_NICE} -p $$; } > /dev/null 2>&1`;
