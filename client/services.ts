/** Read-only access to the farm's services for listing commands (the registry, the bucket). */
import { closeActivityDeps, createActivityDeps, type ActivityDeps } from '../lib/clients/deps';
import { mergedEnv, parseEnv, servicesEnvSchema } from '../lib/env';

export async function withServices<T>(stateDir: string, fn: (deps: ActivityDeps) => Promise<T>): Promise<T> {
  const deps = createActivityDeps(parseEnv(servicesEnvSchema, mergedEnv(stateDir)));
  try {
    return await fn(deps);
  } finally {
    await closeActivityDeps(deps);
  }
}
