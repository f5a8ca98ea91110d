/**
 * A restore's files branch gives way to its database load. The two run side by side, and the load is the longer
 * branch: on a machine whose cores both serve (this project's development machine, where the Galera nodes, the
 * storage node's sshd and the restore worker share two cores) every CPU-second the files branch takes from the
 * load lengthens the whole restore (docs/benchmarks.md). On the farm the storage node's extract yields to the sites
 * that node serves.
 */

/** The nice value the files branch's programs run at: what `nice` gives by default. */
const FILES_BRANCH_NICE = 10;

/**
 * Shell words (bash or sh) that lower the CPU priority of the shell they run in and of every program it starts, to
 * be followed by the next command on the same line (they end with `&`):
 * - its own nice value (`renice 10`, absolute in util-linux and BusyBox alike), which the kernel weighs against the
 *   processes of the same CPU cgroup when it is not the root one (a container's; a systemd unit's or session's
 *   where the cpu controller is on);
 * - its session's autogroup's, which is what the kernel weighs between sessions in the root cgroup when autogroups
 *   are on (sched(7): there a process's own nice counts only within its session). The shell must lead its session (a
 *   detached spawn, an SSH command), or the autogroup is shared with others. A process without CAP_SYS_ADMIN may set
 *   an autogroup's nice only once in 100 ms on the whole machine (EAGAIN otherwise): the write is tried in the
 *   background, ten times 100 ms apart at most, so nothing waits for it.
 * Best effort: without autogroups, or a write refused ten times, nothing is printed and nothing fails.
 */
export const yieldCpuShell =
  `renice ${FILES_BRANCH_NICE} -p $$ > /dev/null 2>&1; ` +
  `( [ -e /proc/self/autogroup ] || exit 0; for i in 1 2 3 4 5 6 7 8 9 10; do { echo ${FILES_BRANCH_NICE} > /proc/self/autogroup; } 2> /dev/null && exit 0; sleep 0.1; done ) < /dev/null > /dev/null 2>&1 &`;
