/**
 * The activities a worker is running now, by type and workflow: what a worker names when it gives up waiting for
 * them at shutdown (an activity that ignores its cancellation would otherwise hold `drover worker` forever).
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

export interface InFlightActivities {
  /** The worker's activity interceptor: registers each execution for as long as it runs. */
  readonly interceptor: ActivityInterceptorsFactory;
  /** `type (workflow ID)` of each running activity, oldest first. */
  list(): string[];
}

export function trackInFlightActivities(): InFlightActivities {
  const running = new Map<symbol, string>();
  return {
    interceptor: (ctx) => ({
      inbound: {
        async execute(input, next) {
          const key = Symbol();
          running.set(key, `${ctx.info.activityType} (${ctx.info.workflowExecution?.workflowId ?? 'no workflow'})`);
          try {
            return await next(input);
          } finally {
            running.delete(key);
          }
        },
      },
    }),
    list: () => [...running.values()],
  };
}
