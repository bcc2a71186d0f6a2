-- Up Migration
-- Compression after a backup is taken (issue 12). A backup keeps status BackedUp throughout; its
-- compression has its own status, so a backup is never unreadable because of it.
ALTER TABLE backups
  ADD COLUMN compression_status text CHECK (compression_status IN ('Pending', 'Compressing', 'FinalizingCompression', 'Compressed', 'CompressionError')),
  ADD COLUMN uncompressed_size bigint,
  ADD COLUMN compression_error text;

-- One row per service job on a backup, kept current by its workflow, so listBackupServiceJobs
-- answers from the catalog. A compression is two jobs: StartCompression (phase 1), FinalizeCompression.
CREATE TABLE backup_service_jobs (
  id uuid PRIMARY KEY,
  backup_id uuid NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  host_id uuid REFERENCES hosts(id),
  zone_id uuid NOT NULL REFERENCES zones(id),
  type text NOT NULL CHECK (type IN ('StartCompression', 'FinalizeCompression', 'BackupValidation')),
  -- Runs that were tried (a wait for a slot or for a restore to end is not one).
  attempts integer NOT NULL DEFAULT 0,
  executing boolean NOT NULL DEFAULT false,
  -- When it is due (again): set while it waits for its next attempt.
  scheduled_at timestamptz,
  started_at timestamptz,
  ended_at timestamptz,
  -- null while unfinished; 'Succeeded', or the reason it failed last.
  result text,
  workflow_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (backup_id, type)
);
CREATE INDEX backup_service_jobs_host_idx ON backup_service_jobs (host_id, executing);

-- Down Migration
DROP TABLE backup_service_jobs;
ALTER TABLE backups DROP COLUMN compression_status, DROP COLUMN uncompressed_size, DROP COLUMN compression_error;
