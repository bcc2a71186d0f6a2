-- Up Migration
-- Tenancy: domains hold accounts; an account is a root admin or a user.
CREATE TABLE domains (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  parent_id uuid REFERENCES domains(id),
  path text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO domains (id, name, path) VALUES ('00000000-0000-0000-0000-000000000001', 'ROOT', 'ROOT');

CREATE TABLE accounts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL UNIQUE,
  domain_id uuid NOT NULL REFERENCES domains(id),
  role text NOT NULL CHECK (role IN ('admin', 'user')),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Only a SHA-256 of each key is kept; the key itself is shown once.
CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  key_hash text NOT NULL UNIQUE,
  label text,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE TABLE zones (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hosts (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  zone_id uuid NOT NULL REFERENCES zones(id),
  task_queue text NOT NULL,
  libvirt_uri text NOT NULL,
  cpus integer NOT NULL,
  memory_bytes bigint NOT NULL,
  storage_paths text[] NOT NULL DEFAULT '{}',
  worker_version text,
  status text NOT NULL DEFAULT 'Up' CHECK (status IN ('Up', 'Down')),
  status_reason text,
  last_seen_at timestamptz,
  last_sync_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A VM's id is its libvirt domain UUID. It starts unowned (account_id NULL) until a root admin gives it away.
CREATE TABLE vms (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  host_id uuid NOT NULL REFERENCES hosts(id),
  zone_id uuid NOT NULL REFERENCES zones(id),
  account_id uuid REFERENCES accounts(id),
  state text NOT NULL,
  has_agent boolean NOT NULL DEFAULT false,
  removed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vms_account_idx ON vms(account_id);
CREATE INDEX vms_host_idx ON vms(host_id);

CREATE TABLE vm_disks (
  vm_id uuid NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  target text NOT NULL,
  path text NOT NULL,
  format text NOT NULL,
  virtual_size bigint NOT NULL,
  PRIMARY KEY (vm_id, target)
);

-- Down Migration
DROP TABLE vm_disks, vms, hosts, zones, api_keys, accounts, domains;
