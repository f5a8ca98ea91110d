/** A process as /proc tells it: what the pack fetcher's job watch and the workers' folder tidy-up both read. */
import { readFileSync } from 'node:fs';

/**
 * A process's state and start time (clock ticks after boot) from /proc/<pid>/stat, the fields after the command's
 * closing parenthesis (a command may hold spaces and parentheses): 'gone' when there is no such process, null when it
 * cannot be read for another reason (then nothing is decided).
 */
export function processStat(pid: number): { state: string; start: string } | 'gone' | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : null;
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: f[0], start: f[19] };
}
