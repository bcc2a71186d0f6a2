import { Router, type Request } from 'express';
import type { ApiDeps } from '../deps';
import { caller } from '../auth';
import { forbidden, notFound } from '../errors';
import { IdParams, parse } from '../validate';
import { effectiveValidationSettings } from '../../activities/control/validation';
import { ADMIN_ONLY_VALIDATION_SETTINGS, VmValidationSettingsBody } from '../../common/schemas/validation';
import { visibleBackup } from './backupAccess';

/** The catalog column of each setting of the body. */
const COLUMNS = {
  command: 'command', arguments: 'arguments', expectedResult: 'expected_result',
  commandTimeout: 'command_timeout', screenshotWait: 'screenshot_wait', bootTimeout: 'boot_timeout',
} as const;

/**
 * A VM's validation settings (CloudStack's backupValidationCommand... VM details) and a backup's
 * validation screenshot, served from the catalog (the API never reads a repository).
 */
export function validationRoutes({ pool }: ApiDeps) {
  const r = Router();

  /** The VM if the caller may act on it (its account's users, root admins), else 404. */
  const visibleVm = async (req: Request, id: string) => {
    const me = caller(req);
    const vm = (await pool.query(`SELECT id, zone_id AS "zoneId", account_id AS "accountId" FROM vms WHERE id = $1`, [id])).rows[0];
    if (!vm || (me.role !== 'admin' && vm.accountId !== me.accountId)) throw notFound('vm', 'id');
    return vm as { id: string; zoneId: string; accountId: string | null };
  };

  /** The VM's own settings (null: unset) and what a validation would use (the defaults applied). */
  const settingsOf = async (vm: { id: string; zoneId: string; accountId: string | null }) => {
    const own = (await pool.query(`SELECT * FROM vm_validation_settings WHERE vm_id = $1`, [vm.id])).rows[0] ?? {};
    return {
      vmId: vm.id,
      ...Object.fromEntries(Object.entries(COLUMNS).map(([k, col]) => [k, own[col] ?? null])),
      effective: await effectiveValidationSettings(pool, vm),
    };
  };

  r.get('/vms/:id/validation-settings', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    res.json(await settingsOf(await visibleVm(req, id)));
  });

  /** Sets the given fields (null clears one); the timeouts are for root admins only (403 naming the field). */
  r.put('/vms/:id/validation-settings', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(VmValidationSettingsBody, req, 'body');
    const vm = await visibleVm(req, id);
    if (caller(req).role !== 'admin') {
      const field = ADMIN_ONLY_VALIDATION_SETTINGS.find((f) => f in body);
      if (field) throw forbidden(`body.${field}: only a root admin sets the validation timeouts`, `body.${field}`);
    }
    const given = Object.entries(COLUMNS).filter(([k]) => k in body);
    const cols = given.map(([, col]) => col);
    const values = given.map(([k]) => (body as Record<string, unknown>)[k]);
    await pool.query(
      `INSERT INTO vm_validation_settings (vm_id, ${cols.join(', ')}) VALUES ($1, ${cols.map((_, i) => `$${i + 2}`).join(', ')})
       ON CONFLICT (vm_id) DO UPDATE SET ${cols.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}, updated_at = now()`,
      [vm.id, ...values],
    );
    res.json(await settingsOf(vm));
  });

  /** downloadValidationScreenshot: the PNG the validation VM's screen showed; 404 before one exists. */
  r.get('/backups/:id/validation-screenshot', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const b = await visibleBackup(pool, req, id);
    const png = (await pool.query(`SELECT validation_screenshot_png AS png FROM backups WHERE id = $1`, [b.id])).rows[0]?.png as Buffer | null;
    if (!png) throw notFound('validation screenshot', 'id');
    res.type('image/png').setHeader('content-disposition', `inline; filename="validation-${b.id}.png"`);
    res.send(png);
  });

  return r;
}
