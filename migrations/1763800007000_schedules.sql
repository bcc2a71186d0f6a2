-- Up Migration
-- Backup schedules: each row is one Temporal Schedule (temporal_id); the two are created, changed and
-- deleted together by the API. offering_id is the VM's offering when the schedule was made, so an
-- offering with schedules behind it cannot be deleted.
CREATE TABLE backup_schedules (
  id uuid PRIMARY KEY,
  vm_id uuid NOT NULL REFERENCES vms(id),
  account_id uuid REFERENCES accounts(id),
  zone_id uuid NOT NULL REFERENCES zones(id),
  offering_id uuid NOT NULL REFERENCES backup_offerings(id),
  interval_type text NOT NULL CHECK (interval_type IN ('HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY')),
  schedule text NOT NULL,
  timezone text NOT NULL,
  max_backups integer NOT NULL CHECK (max_backups >= 1),
  quiesce boolean NOT NULL DEFAULT false,
  isolated boolean NOT NULL DEFAULT false,
  temporal_id text NOT NULL UNIQUE,
  paused boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backup_schedules_vm_idx ON backup_schedules (vm_id);
CREATE INDEX backup_schedules_offering_idx ON backup_schedules (offering_id);

-- The schedule a backup was taken by (NULL: ad hoc). No foreign key: the backups outlive their schedule.
ALTER TABLE backups ADD COLUMN schedule_id uuid;
CREATE INDEX backups_schedule_idx ON backups (schedule_id, created_at) WHERE schedule_id IS NOT NULL;
-- Set and cleared by the owner: never removed by retention or delete while set.
ALTER TABLE backups ADD COLUMN protected boolean NOT NULL DEFAULT false;
-- Why retention removed a backup (kept on the Expunged row for the record).
ALTER TABLE backups ADD COLUMN retired_reason text;

-- A grandfather-father-son policy ({keepLast, keepHourly, ...}) applied after each backup of a VM on the offering.
ALTER TABLE backup_offerings ADD COLUMN retention_policy jsonb;
-- An SLA offering's provider-controlled schedule ({id, temporalId, intervalType, schedule, timezone, maxBackups, quiesce}):
-- one Temporal Schedule that backs up every VM assigned to the offering at each of its times.
ALTER TABLE backup_offerings ADD COLUMN sla_schedule jsonb;

-- The background sync (one workflow per zone): a BackedUp backup whose files are gone or no longer match
-- becomes Missing (reason in error), never restored nor used as a parent again.
ALTER TABLE backups DROP CONSTRAINT backups_status_check;
ALTER TABLE backups ADD CONSTRAINT backups_status_check
  CHECK (status IN ('Allocated', 'BackingUp', 'BackedUp', 'Failed', 'Error', 'Expunged', 'Missing'));

-- Folders in a repository that the catalog does not know: reported, never deleted by Backflow.
CREATE TABLE repository_orphans (
  repository_id uuid NOT NULL REFERENCES backup_repositories(id) ON DELETE CASCADE,
  path text NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repository_id, path)
);

-- Usage for billing, one row per account, VM and offering at each sync: bytes the VM's backups take on
-- disk, and the protected capacity (the VM's virtual size while it is under the offering).
CREATE TABLE backup_usage (
  id bigserial PRIMARY KEY,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  zone_id uuid NOT NULL REFERENCES zones(id),
  account_id uuid REFERENCES accounts(id),
  vm_id uuid NOT NULL REFERENCES vms(id),
  offering_id uuid REFERENCES backup_offerings(id),
  backup_bytes bigint NOT NULL,
  protected_bytes bigint NOT NULL
);
CREATE INDEX backup_usage_account_idx ON backup_usage (account_id, recorded_at);

-- Down Migration
DROP TABLE backup_usage, repository_orphans;
ALTER TABLE backups DROP CONSTRAINT backups_status_check;
ALTER TABLE backups ADD CONSTRAINT backups_status_check
  CHECK (status IN ('Allocated', 'BackingUp', 'BackedUp', 'Failed', 'Error', 'Expunged'));
ALTER TABLE backup_offerings DROP COLUMN sla_schedule, DROP COLUMN retention_policy;
ALTER TABLE backups DROP COLUMN retired_reason, DROP COLUMN protected, DROP COLUMN schedule_id;
DROP TABLE backup_schedules;
