import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';

/** No API call to Temporal waits longer than this for an answer; a request then gets a 503 instead of hanging. */
export const TEMPORAL_CALL_DEADLINE_MS = 10_000;

/** Calls that wait on purpose (a workflow's result, an update's outcome): they keep their own long-poll timing. */
const LONG_POLLS = new Set(['GetWorkflowExecutionHistory', 'UpdateWorkflowExecution', 'PollWorkflowExecutionUpdate', 'ExecuteMultiOperation']);

/** Gives every other call a deadline unless the caller set a nearer one (e.g. /health's per-check deadline). */
const deadlineInterceptor: Interceptor = (options, nextCall) => {
  const method = options.method_definition.path.split('/').pop() ?? '';
  if (LONG_POLLS.has(method)) return new InterceptingCall(nextCall(options));
  const ours = Date.now() + TEMPORAL_CALL_DEADLINE_MS;
  const theirs = options.deadline === undefined || options.deadline === Infinity ? Infinity : Number(options.deadline instanceof Date ? options.deadline.getTime() : options.deadline);
  return new InterceptingCall(nextCall({ ...options, deadline: Math.min(ours, theirs) }));
};

/**
 * The API's Temporal client. The connection is lazy, so the API starts and answers (503 for operations)
 * while Temporal is away; a refused connection is retried briefly (about 2 s), not the default 10 times
 * over ~20 s, and every call has a deadline, so an outage is reported, not waited out.
 */
export function apiTemporalClient(address: string, namespace: string): Client {
  const connection = Connection.lazy({
    address,
    interceptors: [deadlineInterceptor, makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 5 }))],
  });
  return new Client({ connection, namespace });
}
