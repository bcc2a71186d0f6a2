import { temporal } from '@temporalio/proto';
import { randomUUID } from 'node:crypto';
import { CONTROL_TASK_QUEUE } from '../../common/temporal';
import { rehashZoneWorkflow } from '../../workflows';
import { eventually } from '../helpers/stack';
import { stubbedWorkers } from './stubbedWorker';

const EventType = temporal.api.enums.v1.EventType;

/**
 * The periodic re-hash's own decisions, with stubbed activities on a real Temporal server: a round
 * every backup.validation.interval, the interval read again before each wait. The time-skipping test
 * server (TestWorkflowEnvironment.createTimeSkipping) is a download this machine cannot make, so the
 * intervals are a few seconds (fractions of an hour, as the stub answers) and the proof is the
 * workflow's history: each timer is exactly the interval read just before it, and a round follows it.
 */
describe('rehashZoneWorkflow: a round every backup.validation.interval, read each round', () => {
  const workers = stubbedWorkers();

  test('each wait is the interval read before it, and each wait is followed by a round of the zone', async () => {
    // 1 s, then 3 s, then 2 s (in hours, as the setting is): a changed interval holds from the next round.
    const hours = [1 / 3600, 3 / 3600, 2 / 3600];
    const zoneId = randomUUID();
    const calls: string[] = [];
    let reads = 0;
    const control = {
      rehashIntervalHours: async (input: { zoneId: string }) => {
        expect(input.zoneId).toBe(zoneId);
        calls.push('rehashIntervalHours');
        return hours[Math.min(reads++, hours.length - 1)];
      },
      startZoneRehashes: async (input: { zoneId: string }) => {
        expect(input.zoneId).toBe(zoneId);
        calls.push('startZoneRehashes');
        return { started: 2 };
      },
    };
    const handle = await workers.runControl(control, async () => {
      const h = await workers.env.client.workflow.start(rehashZoneWorkflow, {
        workflowId: `rehash-test-${zoneId}`, taskQueue: CONTROL_TASK_QUEUE, args: [{ zoneId }],
      });
      await eventually(async () => calls.filter((c) => c === 'startZoneRehashes').length >= 3, 60_000, 200);
      await h.terminate('test done');
      return h;
    });

    const history = await handle.fetchHistory();
    const steps = (history.events ?? []).flatMap((e) => {
      if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) return [e.activityTaskScheduledEventAttributes!.activityType!.name!];
      if (e.eventType === EventType.EVENT_TYPE_TIMER_STARTED) return [`timer ${Number(e.timerStartedEventAttributes!.startToFireTimeout!.seconds)}s`];
      if (e.eventType === EventType.EVENT_TYPE_TIMER_FIRED) return ['fired'];
      return [];
    });
    const round = (seconds: number) => ['rehashIntervalHours', `timer ${seconds}s`, 'fired', 'startZoneRehashes'];
    expect(steps.slice(0, 12)).toEqual([...round(1), ...round(3), ...round(2)]);
    // Whatever ran before the terminate goes on the same way (the stub keeps answering 2 s).
    const rest = steps.slice(12);
    expect(rest).toEqual(Array.from({ length: Math.ceil(rest.length / 4) }, () => round(2)).flat().slice(0, rest.length));
  }, 120_000);
});
