-- Up Migration
-- Each backed-up disk keeps its format on the VM (a raw disk restores as raw) and, when it was copied
-- in full, why (a disk that cannot carry a dirty bitmap is copied in full every time).
ALTER TABLE backup_disks ADD COLUMN source_format text, ADD COLUMN full_reason text;

-- Down Migration
ALTER TABLE backup_disks DROP COLUMN source_format, DROP COLUMN full_reason;
