import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * Fault injection for crash tests: with BACKFLOW_CRASH_AFTER_ACTIVITY=<activity type>, the host worker
 * process kills itself (SIGKILL, as a crash would) right after that activity has completed, so a
 * test can stop it at an exact point of a workflow. Without the variable this adds nothing.
 */
export function crashHook(env: NodeJS.ProcessEnv = process.env): ActivityInterceptorsFactory[] {
  const after = env.BACKFLOW_CRASH_AFTER_ACTIVITY;
  if (!after) return [];
  return [
    (ctx) => ({
      inbound: {
        async execute(input, next) {
          const result = await next(input);
          // A moment for the result to reach the server, then die without any cleanup.
          if (ctx.info.activityType === after) setTimeout(() => process.kill(process.pid, 'SIGKILL'), 200);
          return result;
        },
      },
    }),
  ];
}
