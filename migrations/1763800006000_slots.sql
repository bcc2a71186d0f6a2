-- Up Migration
-- Counted slots: at most N jobs at once using a resource (compression, validation) per host and per zone.
-- One row per pool a job asked for; a job's rows share its ticket, which orders jobs first come, first served.
-- Kept in the catalog so a worker restart forgets nothing: a waiting job is still waiting, a holder still holds.
CREATE SEQUENCE slot_tickets;

CREATE TABLE slots (
  resource text NOT NULL,
  scope text NOT NULL CHECK (scope IN ('zone', 'host')),
  scope_id uuid NOT NULL,
  -- The workflow (id and run) that asked; a run that is no longer running loses its rows.
  holder text NOT NULL,
  run_id text NOT NULL,
  operation text NOT NULL,
  ticket bigint NOT NULL,
  state text NOT NULL CHECK (state IN ('waiting', 'holding')),
  requested_at timestamptz NOT NULL DEFAULT now(),
  -- When the row entered its state: waiting since, or holding since.
  since timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (resource, scope, scope_id, holder, run_id)
);
CREATE INDEX slots_pool_idx ON slots (resource, scope, scope_id, state, ticket);
CREATE INDEX slots_holder_idx ON slots (holder, run_id);

-- Down Migration
DROP TABLE slots;
DROP SEQUENCE slot_tickets;
