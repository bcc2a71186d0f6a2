import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { chromium, type Browser } from 'playwright-core';
import { backupProgress } from '../../workflows/backup';
import { type KbossZone } from '../helpers/backups';
import { enrolledVm, startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { freePort } from '../helpers/ownServers';
import { REPO } from '../helpers/paths';
import { apiOk, eventually, type Stack } from '../helpers/stack';
import type { TestVm } from '../helpers/vm';

/** Debian's chromium, headless, with nothing that reaches out of the machine. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const SCREENSHOT = path.join(REPO, 'docs/webui-running-backup.png');

/**
 * Issue 14: the Temporal Web UI as the operators' console. A backup started through the API carries its
 * summary and details; while it runs (held at its first host step: the host worker is stopped meanwhile)
 * its current details show its phase, its pending activity its summary, and the UI's page shows both.
 */
describe('Temporal Web UI: summary and current details of a running backup', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  let uiPort: number;
  let browser: Browser | undefined;

  beforeAll(async () => {
    uiPort = await freePort();
    ({ s, kb } = await startKbossStack({ temporalUiPort: uiPort }));
  });
  afterAll(async () => {
    await browser?.close();
    await stopKbossStack(s, kb, vms);
  });

  test('describe(), the metadata query and the page show what the backup is and where it is', async () => {
    const vm = await enrolledVm(s, vms, { os: false, diskSizeMiB: 64 }, kb.offeringId);
    const repoName = (await s.pool.query(`SELECT name FROM backup_repositories WHERE id = $1`, [kb.repoId])).rows[0].name;
    await s.stopHostWorker();
    const started = await apiOk(s, 'POST', '/v1/backups', { vmId: vm.uuid });
    const handle = s.client.workflow.getHandle(started.workflowId);
    await eventually(async () => (await handle.query(backupProgress)).phase === 'preparing');

    const summary = `backup of ${vm.name} to ${repoName}`;
    const desc = await handle.describe();
    expect(desc.status.name).toBe('RUNNING');
    expect(await desc.staticSummary()).toBe(summary);
    expect(await desc.staticDetails()).toContain(`- backup: \`${started.backupId}\``);
    const meta = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
    expect(meta.currentDetails).toBe('- **phase**: preparing');
    // The pending host step has its summary in the history (mounting the local repository).
    const history = await handle.fetchHistory();
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'mountRepository');
    expect(defaultPayloadConverter.fromPayload(scheduled!.userMetadata!.summary!)).toBe(`mount local repository ${kb.repoPath}`);

    // The page an operator opens from the workflow list.
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    await page.goto(`http://127.0.0.1:${uiPort}/namespaces/${s.client.options.namespace}/workflows/${started.workflowId}/${desc.runId}/history`);
    try {
      // The history shows the pending activity with its summary; the User Metadata tab the workflow's.
      await page.getByText(`mount local repository ${kb.repoPath}`).first().waitFor({ timeout: 60_000 });
      await page.getByText('User Metadata', { exact: true }).first().click({ timeout: 60_000 });
      // The UI renders each markdown text in a frame of its own: read them all.
      const shown = async () => (await Promise.all(page.frames().map((f) => f.locator('body').innerText().catch(() => '')))).join('\n');
      const text = await eventually(async () => {
        const t = await shown();
        return t.includes(summary) && t.includes('phase: preparing') && t;
      }, 60_000);
      expect(text).toContain(`backup: ${started.backupId}`);
      expect(await page.getByText('Current Details').first().isVisible()).toBe(true);
      mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    } catch (e) {
      // What the page showed instead, for whoever reads the failure.
      await page.screenshot({ path: path.join(REPO, '.state/webui-failure.png'), fullPage: true });
      throw e;
    }

    // The host comes back: the backup finishes, and its details say so.
    await s.restartHostWorker();
    expect(await handle.result()).toMatchObject({ backupId: started.backupId, status: 'BackedUp' });
    expect((await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata')).currentDetails).toBe(
      '- **phase**: done\n- **type**: FULL\n- **fullReason**: no earlier backup to chain onto',
    );
  });
});
