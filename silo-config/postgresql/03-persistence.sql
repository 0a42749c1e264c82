-- OcapDgc: Orleans ADO.NET grain persistence for PostgreSQL.
-- Requires 01-orleans-query.sql. Safe to apply repeatedly.
--
-- Contract notes (Microsoft.Orleans.Persistence.AdoNet 10.4.2):
--  * Every statement receives GrainIdHash (int), GrainIdN0 (bigint), GrainIdN1 (bigint),
--    GrainTypeHash (int), GrainTypeString (text), GrainIdExtensionString (text, may be
--    NULL) and ServiceId (text). Writes and clears also get GrainStateVersion (int,
--    NULL when the grain has never seen a stored row); writes get PayloadBinary (bytea).
--  * ReadFromStorageKey must return the columns PayloadBinary and Version.
--  * WriteToStorageKey must return NewGrainStateVersion; ClearStorageKey and
--    DeleteStorageKey return the new version in their first column. Returning
--    nothing, NULL or the unchanged version makes Orleans raise
--    InconsistentStateException (optimistic concurrency via the Version column).
--  * ClearStorageKey is used by default: the row stays, its payload becomes NULL and
--    its version moves on. DeleteStorageKey is only used with
--    AdoNetGrainStorageOptions.DeleteStateOnClear = true and removes the row.

CREATE TABLE IF NOT EXISTS OrleansStorage
(
    GrainIdHash            integer      NOT NULL,
    GrainIdN0              bigint       NOT NULL,
    GrainIdN1              bigint       NOT NULL,
    GrainTypeHash          integer      NOT NULL,
    GrainTypeString        varchar(512) NOT NULL,
    GrainIdExtensionString varchar(512) NULL,
    ServiceId              varchar(150) NOT NULL,
    PayloadBinary          bytea        NULL,
    ModifiedOn             timestamptz  NOT NULL DEFAULT now(),
    Version                integer      NULL
);

CREATE INDEX IF NOT EXISTS IX_OrleansStorage_Hashes
    ON OrleansStorage (GrainIdHash, GrainTypeHash);

-- The full identity of a stored grain state (hashes only narrow the search).
CREATE OR REPLACE FUNCTION ocap_storage_is_grain(
    s OrleansStorage,
    p_grain_id_hash integer, p_grain_id_n0 bigint, p_grain_id_n1 bigint,
    p_grain_type_hash integer, p_grain_type varchar, p_key_ext varchar,
    p_service_id varchar)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $body$
    SELECT s.GrainIdHash = p_grain_id_hash
       AND s.GrainTypeHash = p_grain_type_hash
       AND s.GrainIdN0 = p_grain_id_n0
       AND s.GrainIdN1 = p_grain_id_n1
       AND s.GrainTypeString = p_grain_type
       AND s.GrainIdExtensionString IS NOT DISTINCT FROM p_key_ext
       AND s.ServiceId = p_service_id;
$body$;

-- Stores a new payload. With a known version the row is updated only if it still
-- carries that version; without one a first row (version 1) is inserted unless a
-- row for the grain already exists. An advisory lock keyed by the two hashes keeps
-- two concurrent first writes of the same grain from both inserting.
-- Answers the new version, or NULL when nothing was written.
CREATE OR REPLACE FUNCTION ocap_storage_write(
    p_grain_id_hash integer, p_grain_id_n0 bigint, p_grain_id_n1 bigint,
    p_grain_type_hash integer, p_grain_type varchar, p_key_ext varchar,
    p_service_id varchar, p_expected_version integer, p_payload bytea)
RETURNS TABLE (NewGrainStateVersion integer)
LANGUAGE plpgsql
AS $body$
DECLARE
    written integer;
BEGIN
    IF p_expected_version IS NOT NULL THEN
        UPDATE OrleansStorage AS s
           SET PayloadBinary = p_payload,
               ModifiedOn = now(),
               Version = s.Version + 1
         WHERE ocap_storage_is_grain(s, p_grain_id_hash, p_grain_id_n0, p_grain_id_n1,
                                     p_grain_type_hash, p_grain_type, p_key_ext, p_service_id)
           AND s.Version = p_expected_version;
        GET DIAGNOSTICS written = ROW_COUNT;
        RETURN QUERY SELECT CASE WHEN written > 0 THEN p_expected_version + 1 END;
        RETURN;
    END IF;

    PERFORM pg_advisory_xact_lock(p_grain_id_hash, p_grain_type_hash);
    INSERT INTO OrleansStorage
        (GrainIdHash, GrainIdN0, GrainIdN1, GrainTypeHash, GrainTypeString,
         GrainIdExtensionString, ServiceId, PayloadBinary, ModifiedOn, Version)
    SELECT p_grain_id_hash, p_grain_id_n0, p_grain_id_n1, p_grain_type_hash, p_grain_type,
           p_key_ext, p_service_id, p_payload, now(), 1
     WHERE NOT EXISTS (
           SELECT 1 FROM OrleansStorage AS s
            WHERE ocap_storage_is_grain(s, p_grain_id_hash, p_grain_id_n0, p_grain_id_n1,
                                        p_grain_type_hash, p_grain_type, p_key_ext, p_service_id));
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN QUERY SELECT CASE WHEN written > 0 THEN 1 END;
END;
$body$;

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES
('WriteToStorageKey', '
SELECT NewGrainStateVersion
  FROM ocap_storage_write(
       @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString,
       @GrainIdExtensionString, @ServiceId, @GrainStateVersion, @PayloadBinary);
'),
('ReadFromStorageKey', '
SELECT s.PayloadBinary, s.Version
  FROM OrleansStorage AS s
 WHERE ocap_storage_is_grain(s, @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash,
                             @GrainTypeString, @GrainIdExtensionString, @ServiceId);
'),
('ClearStorageKey', '
UPDATE OrleansStorage AS s
   SET PayloadBinary = NULL,
       ModifiedOn = now(),
       Version = s.Version + 1
 WHERE ocap_storage_is_grain(s, @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash,
                             @GrainTypeString, @GrainIdExtensionString, @ServiceId)
   AND s.Version = @GrainStateVersion
RETURNING s.Version AS NewGrainStateVersion;
'),
('DeleteStorageKey', '
DELETE FROM OrleansStorage AS s
 WHERE ocap_storage_is_grain(s, @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash,
                             @GrainTypeString, @GrainIdExtensionString, @ServiceId)
   AND s.Version = @GrainStateVersion
RETURNING s.Version + 1 AS NewGrainStateVersion;
')
ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;
