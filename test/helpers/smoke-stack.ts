import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths';

/**
 * The smoke stack as shipped, its health check every second and its restart delay one second (2 s and 5 s): the
 * bring-up tests wait on both (each task's first check, killed tasks) and prove nothing about their length. Throws
 * when the shipped file no longer has the values it shortens.
 */
export function quickSmokeStack(): string {
  const shipped = readFileSync(path.join(ROOT, 'stacks/smoke.yml'), 'utf8');
  const quick = shipped.replace(/interval: 2s\n/, 'interval: 1s\n').replace(/delay: 5s \}/, 'delay: 1s }');
  if ((quick.match(/interval: 1s\n|delay: 1s \}/g) ?? []).length !== 2) throw new Error('stacks/smoke.yml no longer has the interval and delay the bring-up tests shorten');
  return quick;
}
