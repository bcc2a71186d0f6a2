-- Up Migration
-- One row per restore: what was restored, onto which VM, how, and how it went.
CREATE TABLE restores (
  id uuid PRIMARY KEY,
  backup_id uuid NOT NULL REFERENCES backups(id),
  source_vm_id uuid NOT NULL REFERENCES vms(id),
  target_vm_id uuid REFERENCES vms(id),
  account_id uuid REFERENCES accounts(id),
  mode text NOT NULL CHECK (mode IN ('in_place', 'quick', 'volume', 'new_vm')),
  quick boolean NOT NULL DEFAULT false,
  volume_target text,
  new_vm_name text,
  status text NOT NULL DEFAULT 'Running' CHECK (status IN ('Running', 'Consolidating', 'Succeeded', 'Failed')),
  phase text,
  bytes bigint,
  error text,
  workflow_id text,
  request_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  running_at timestamptz,      -- quick restore: when the VM was running from the backup
  finished_at timestamptz,
  duration_ms integer
);
CREATE INDEX restores_backup_idx ON restores (backup_id);
CREATE UNIQUE INDEX restores_request_idx ON restores (backup_id, request_id) WHERE request_id IS NOT NULL;

-- Down Migration
DROP TABLE restores;
