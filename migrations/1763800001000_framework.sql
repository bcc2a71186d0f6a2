-- Up Migration
-- The backup framework's catalog: settings by scope, backup repositories, backup offerings, and each VM's offering.

-- A setting's value at one scope; the narrowest scope that has a value wins (account > zone > global > the
-- registry's default in common/settings.ts). scope_id is the zone's or account's id, NULL for global.
CREATE TABLE settings (
  name text NOT NULL,
  scope text NOT NULL CHECK (scope IN ('global', 'zone', 'account')),
  scope_id uuid,
  value jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((scope = 'global') = (scope_id IS NULL))
);
CREATE UNIQUE INDEX settings_name_scope_idx ON settings (name, scope, COALESCE(scope_id, '00000000-0000-0000-0000-000000000000'));
CREATE INDEX settings_scope_idx ON settings (scope, scope_id);

-- Where backups are kept. Remote types are mounted by the host worker with mount(8) under its mount root;
-- 'local' is a directory on the hosts themselves (single-host set-ups and tests).
CREATE TABLE backup_repositories (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  zone_id uuid NOT NULL REFERENCES zones(id),
  type text NOT NULL CHECK (type IN ('nfs', 'cifs', 'cephfs', 'local')),
  address text NOT NULL,
  mount_options text NOT NULL DEFAULT '',
  capacity_bytes bigint CHECK (capacity_bytes IS NULL OR capacity_bytes > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (zone_id, name)
);

-- What a VM's backups are taken with. dummy and nas offerings are imported from their provider
-- (external_id; for nas the repository's id), kboss offerings are created with their features.
CREATE TABLE backup_offerings (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  description text,
  zone_id uuid NOT NULL REFERENCES zones(id),
  provider text NOT NULL CHECK (provider IN ('dummy', 'nas', 'kboss')),
  external_id text,
  repository_id uuid REFERENCES backup_repositories(id),
  allow_user_driven_backups boolean NOT NULL DEFAULT true,
  -- Public offerings are open to every account; dedicated ones to accounts in domain_ids or their subdomains.
  is_public boolean NOT NULL DEFAULT true,
  domain_ids uuid[] NOT NULL DEFAULT '{}',
  compress boolean NOT NULL DEFAULT false,
  compression_library text CHECK (compression_library IN ('zstd', 'zlib')),
  validate boolean NOT NULL DEFAULT false,
  validation_steps text[] NOT NULL DEFAULT '{}'
    CHECK (validation_steps <@ ARRAY['wait_for_boot', 'execute_command', 'screenshot']::text[]),
  allow_quick_restore boolean NOT NULL DEFAULT false,
  allow_extract_file boolean NOT NULL DEFAULT false,
  -- NULL: the backup.chain.size setting applies.
  backup_chain_size integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (zone_id, name)
);
CREATE UNIQUE INDEX backup_offerings_external_idx ON backup_offerings (zone_id, provider, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX backup_offerings_repository_idx ON backup_offerings (repository_id);

ALTER TABLE vms ADD COLUMN backup_offering_id uuid REFERENCES backup_offerings(id);
CREATE INDEX vms_backup_offering_idx ON vms (backup_offering_id);

-- Down Migration
DROP INDEX vms_backup_offering_idx;
ALTER TABLE vms DROP COLUMN backup_offering_id;
DROP TABLE backup_offerings, backup_repositories, settings;
