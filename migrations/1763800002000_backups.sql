-- Up Migration
-- One row per backup. Files live in the repository as <vm>/<backup>/<target>.qcow2; an incremental's
-- qcow2 backs onto its parent's, so a backup plus its parents is a complete image.
CREATE TABLE backups (
  id uuid PRIMARY KEY,
  vm_id uuid NOT NULL REFERENCES vms(id),
  account_id uuid REFERENCES accounts(id),
  zone_id uuid NOT NULL REFERENCES zones(id),
  host_id uuid REFERENCES hosts(id),
  offering_id uuid REFERENCES backup_offerings(id),
  repository_id uuid REFERENCES backup_repositories(id),
  provider text NOT NULL CHECK (provider IN ('dummy', 'nas', 'kboss')),
  name text,
  description text,
  request_id text,
  status text NOT NULL DEFAULT 'Allocated' CHECK (status IN ('Allocated', 'BackingUp', 'BackedUp', 'Failed', 'Error', 'Expunged')),
  type text CHECK (type IN ('FULL', 'INCREMENTAL')),
  parent_id uuid REFERENCES backups(id),
  chain_id uuid,
  chain_position integer,
  checkpoint text,
  full_reason text,
  isolated boolean NOT NULL DEFAULT false,
  quiesce boolean NOT NULL DEFAULT false,
  quiesced boolean NOT NULL DEFAULT false,
  freeze_ms integer,
  size_bytes bigint,
  virtual_size bigint,
  duration_ms integer,
  -- Deleted by its owner but kept (hidden) because later backups still back onto its files.
  hidden boolean NOT NULL DEFAULT false,
  error text,
  workflow_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz
);
CREATE UNIQUE INDEX backups_request_idx ON backups (vm_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX backups_vm_idx ON backups (vm_id, created_at);
CREATE INDEX backups_parent_idx ON backups (parent_id);

CREATE TABLE backup_disks (
  backup_id uuid NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  target text NOT NULL,
  file text NOT NULL,          -- relative to the repository root
  source_path text NOT NULL,   -- the VM's disk at backup time
  size_bytes bigint NOT NULL,  -- allocated on disk
  virtual_size bigint NOT NULL,
  PRIMARY KEY (backup_id, target)
);

-- Set when the next backup of the VM must start a new chain (finishBackupChain, a restore, a lost checkpoint).
ALTER TABLE vms ADD COLUMN chain_break_reason text;

-- One backup or restore at a time per VM: the workflow holding the VM.
CREATE TABLE vm_locks (
  vm_id uuid PRIMARY KEY REFERENCES vms(id),
  holder text NOT NULL,
  operation text NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE vm_locks;
ALTER TABLE vms DROP COLUMN chain_break_reason;
DROP TABLE backup_disks, backups;
