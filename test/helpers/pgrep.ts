/**
 * Process ids `pgrep` finds with these arguments (e.g. `['-f', pattern]`, `['-P', parent]`); none when nothing
 * matches (pgrep's exit 1).
 */
import { spawnSync } from 'node:child_process';

export function pgrep(args: string[]): number[] {
  return spawnSync('pgrep', args, { encoding: 'utf8' }).stdout.split('\n').map(Number).filter((p) => p > 0);
}
