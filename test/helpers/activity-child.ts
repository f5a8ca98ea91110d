/**
 * Runs one real activity in a process of its own, as a worker would: `node <bundled activity-child> <state dir> <name> <json>`.
 * Crash tests start it with DROVER_FAULT_CRASH_AT set, so it SIGKILLs itself between two commands of the step.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { closeActivityDeps, createActivities, createActivityDeps } from '../../activities';
import { mergedEnv, parseEnv, workerEnvSchema } from '../../lib/env';

async function main(): Promise<void> {
  const [stateDir, name, json] = process.argv.slice(2);
  const deps = createActivityDeps(parseEnv(workerEnvSchema, mergedEnv(stateDir)));
  try {
    const fn = (createActivities(deps) as unknown as Record<string, (input: unknown) => Promise<unknown>>)[name];
    if (!fn) throw new Error(`no activity ${name}`);
    // In an activity context (heartbeats, cancellation signal), as on a worker.
    process.stdout.write(`${JSON.stringify(await new MockActivityEnvironment().run(fn, JSON.parse(json)))}\n`);
  } finally {
    await closeActivityDeps(deps);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
