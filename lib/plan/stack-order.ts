/**
 * The order stacks deploy in: waves, each after everything its stacks depend on, otherwise in the given order.
 * Pure, so both the CLI (`drover plan`) and the bring-up workflow use it.
 */
interface Stack {
  name: string;
  dependsOn: string[];
}

/** The waves, and the stacks no wave can take (a dependency cycle, or a dependency not among the stacks). */
export function stackWaves<S extends Stack>(stacks: S[]): { waves: S[][]; stuck: S[] } {
  const waves: S[][] = [];
  const done = new Set<string>();
  let left = [...stacks];
  while (left.length) {
    const ready = left.filter((s) => s.dependsOn.every((d) => done.has(d)));
    if (!ready.length) break;
    waves.push(ready);
    ready.forEach((s) => done.add(s.name));
    left = left.filter((s) => !ready.includes(s));
  }
  return { waves, stuck: left };
}

/** Stacks in deployment order; throws on a dependency cycle (a validated plan has none). */
export function stackOrder<S extends Stack>(stacks: S[]): S[][] {
  const { waves, stuck } = stackWaves(stacks);
  if (stuck.length) throw new Error('stack dependency cycle');
  return waves;
}
