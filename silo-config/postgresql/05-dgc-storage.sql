-- The DGC's own grain storage (DgcPostgresGrainStorage, the cluster profile's "dgc-store"): one row per
-- grain state, keyed by the cluster's service id, the grain id and the state name (export, remote,
-- remote~N for a remote handle's journal entries, manager). The version is the row's ETag, drawn from
-- one sequence so that a version is never reused, not even after a row was deleted and written again.
-- A cleared state deletes its row.

CREATE SEQUENCE IF NOT EXISTS dgc_state_version;

CREATE TABLE IF NOT EXISTS dgc_state
(
    service_id  text    NOT NULL,
    grain_id    text    NOT NULL,
    state_name  text    NOT NULL,
    version     bigint  NOT NULL,
    payload     bytea   NOT NULL,
    modified_on timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, grain_id, state_name)
);
