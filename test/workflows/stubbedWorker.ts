import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { CONTROL_TASK_QUEUE, SEARCH_ATTRIBUTES } from '../../common/temporal';
import { TEMPORAL_BIN } from '../helpers/paths';

type Stubs = Record<string, (input: never) => Promise<unknown>>;

/**
 * Workflow unit tests: the real workflows on a real (local) Temporal server, with stubbed activities on
 * the control queue and on one host queue. Call in a describe block; it starts the server once.
 */
export function stubbedWorkers() {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: TEMPORAL_BIN }, searchAttributes: SEARCH_ATTRIBUTES, ip: '127.0.0.1' },
    });
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows') });
  });
  afterAll(() => env?.teardown());

  /** Runs fn while a control worker (the workflows and `control`) polls. */
  const runControl = async <T>(control: Stubs, fn: () => Promise<T>): Promise<T> => {
    const wControl = await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROL_TASK_QUEUE, workflowBundle: bundle, activities: control });
    return wControl.runUntil(fn);
  };

  return {
    get env() {
      return env;
    },
    get bundle() {
      return bundle;
    },
    /** Runs fn while a control worker (the workflows and `control`) and a host worker (`host`) poll. */
    async run<T>(stubs: { control: Stubs; hostQueue: string; host: Stubs }, fn: () => Promise<T>): Promise<T> {
      const wHost = await Worker.create({ connection: env.nativeConnection, taskQueue: stubs.hostQueue, activities: stubs.host });
      return runControl(stubs.control, () => wHost.runUntil(fn));
    },
    /** For workflows that call no host activity. */
    runControl,
  };
}

/**
 * Activity stubs that record their calls in order (and each one's latest input in `inputs`) and answer
 * with the given results; those named in `failing` fail (non-retryable, so the workflow sees it at once).
 */
export function recordingStubs(calls: string[], results: Record<string, unknown>, failing: string | string[] = [], inputs: Record<string, unknown> = {}): Stubs {
  return Object.fromEntries(
    Object.entries(results).map(([name, result]) => [
      name,
      async (input: unknown) => {
        calls.push(name);
        inputs[name] = input;
        if ([failing].flat().includes(name)) throw ApplicationFailure.nonRetryable(`${name} failed (stub)`, 'StubFailed');
        return result;
      },
    ]),
  );
}
