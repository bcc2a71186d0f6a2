import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { subjectOf } from '../common/log';

/**
 * Every log line of an activity (its own `log` calls and the SDK's "Activity started/completed") carries,
 * besides the workflowId the SDK adds, the VM, backup and restore ids of the activity's input.
 */
export const activityLogAttributes: ActivityInterceptorsFactory = () => {
  let subject: Record<string, string> = {};
  return {
    inbound: {
      execute(input, next) {
        subject = subjectOf(input.args[0]);
        return next(input);
      },
    },
    outbound: {
      getLogAttributes(attrs, next) {
        return next({ ...attrs, ...subject });
      },
    },
  };
};

/** The workflow interceptors the control worker's bundle must include (workflows/observe.ts: log attributes, activity summaries). */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('../workflows/observe')];
