import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { hostConfig } from '../common/config';

/**
 * Fault injection for crash tests: with BACKFLOW_CRASH_AFTER_ACTIVITY=<activity type>, the host worker
 * process kills itself (SIGKILL, as a crash would) right after that activity has completed, so a
 * test can stop it at an exact point of a workflow. With BACKFLOW_CRASH_BEFORE_RESULT=1 it dies before
 * the result is reported (the server then retries the activity); otherwise just after. Without the
 * variables this adds nothing.
 */
export function crashHook(env: NodeJS.ProcessEnv = process.env): ActivityInterceptorsFactory[] {
  const { crashAfterActivity: after, crashBeforeResult: beforeResult } = hostConfig(env);
  if (!after) return [];
  return [
    (ctx) => ({
      inbound: {
        async execute(input, next) {
          const result = await next(input);
          if (ctx.info.activityType === after) {
            if (beforeResult) process.kill(process.pid, 'SIGKILL');
            // A moment for the result to reach the server, then die without any cleanup.
            setTimeout(() => process.kill(process.pid, 'SIGKILL'), 200);
          }
          return result;
        },
      },
    }),
  ];
}
