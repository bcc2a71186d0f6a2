-- Up Migration
-- Validation in a throwaway VM, content hashes and re-hashing, and alerts (issue 13). Like compression,
-- validation has its own status beside the backup's; a NotValid backup stays BackedUp (its files exist)
-- but is never an incremental parent and is restored only when the user forces it.
ALTER TABLE backups
  ADD COLUMN validation_status text CHECK (validation_status IN ('Pending', 'Validating', 'Valid', 'NotValid', 'UnableToValidate')),
  -- The step that failed (wait_for_boot, execute_command, screenshot, rehash) and what it printed or why.
  ADD COLUMN validation_step text,
  ADD COLUMN validation_output text,
  ADD COLUMN validation_error text,
  ADD COLUMN validated_at timestamptz,
  -- The validation screenshot: a PNG beside the backup's files (path relative to the repository root),
  -- and a copy in the catalog, so the API serves it without touching a disk.
  ADD COLUMN validation_screenshot text,
  ADD COLUMN validation_screenshot_png bytea;

-- One content hash per file of a backup (its own files, not its parents'), taken once it is final
-- (after compression and validation where they apply) and compared by every re-hash.
CREATE TABLE backup_file_hashes (
  backup_id uuid NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  target text NOT NULL,
  file text NOT NULL,             -- relative to the repository root
  algorithm text NOT NULL,        -- e.g. xxh128
  hash text NOT NULL,
  size_bytes bigint NOT NULL,     -- the file's length when hashed
  hashed_at timestamptz NOT NULL DEFAULT now(),
  verified_at timestamptz,        -- the last re-hash that matched
  PRIMARY KEY (backup_id, target)
);

-- A VM's validation settings (CloudStack VM details backupValidationCommand...); unset ones fall back
-- to the backup.validation.* defaults. The timeouts are admin-only.
CREATE TABLE vm_validation_settings (
  vm_id uuid PRIMARY KEY REFERENCES vms(id) ON DELETE CASCADE,
  command text,
  arguments text[],
  expected_result text,           -- base64 of the expected output
  command_timeout integer,        -- s
  screenshot_wait integer,        -- s
  boot_timeout integer,           -- s
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Alerts raised by unattended work (a NotValid or UnableToValidate validation, a hash mismatch).
CREATE TABLE alerts (
  id uuid PRIMARY KEY,
  type text NOT NULL,
  zone_id uuid REFERENCES zones(id),
  account_id uuid REFERENCES accounts(id),
  vm_id uuid REFERENCES vms(id) ON DELETE SET NULL,
  backup_id uuid REFERENCES backups(id) ON DELETE SET NULL,
  message text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_created_idx ON alerts (created_at);

-- Validation, hashing and re-hashing are service jobs too (listBackupServiceJobs).
ALTER TABLE backup_service_jobs DROP CONSTRAINT backup_service_jobs_type_check;
ALTER TABLE backup_service_jobs ADD CONSTRAINT backup_service_jobs_type_check
  CHECK (type IN ('StartCompression', 'FinalizeCompression', 'BackupValidation', 'BackupHash', 'BackupRehash'));

-- A restore from a NotValid backup happens only when forced; the force is recorded.
ALTER TABLE restores ADD COLUMN forced_not_valid boolean NOT NULL DEFAULT false;

-- Down Migration
ALTER TABLE restores DROP COLUMN forced_not_valid;
ALTER TABLE backup_service_jobs DROP CONSTRAINT backup_service_jobs_type_check;
ALTER TABLE backup_service_jobs ADD CONSTRAINT backup_service_jobs_type_check
  CHECK (type IN ('StartCompression', 'FinalizeCompression', 'BackupValidation'));
DROP TABLE alerts;
DROP TABLE vm_validation_settings;
DROP TABLE backup_file_hashes;
ALTER TABLE backups DROP COLUMN validation_status, DROP COLUMN validation_step, DROP COLUMN validation_output,
  DROP COLUMN validation_error, DROP COLUMN validated_at, DROP COLUMN validation_screenshot, DROP COLUMN validation_screenshot_png;
