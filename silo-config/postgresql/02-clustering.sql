-- OcapDgc: Orleans ADO.NET clustering (membership) for PostgreSQL.
-- Requires 01-orleans-query.sql. Safe to apply repeatedly.
--
-- Contract notes (Microsoft.Orleans.Clustering.AdoNet 10.4.2):
--  * Parameters bound by Orleans: DeploymentId (= ClusterId), Address, Port,
--    Generation, SiloName, HostName, Status, ProxyPort, StartTime, IAmAliveTime,
--    SuspectTimes, Version (the expected table version, an int).
--  * Read queries must expose the columns Address, Port, Generation, SiloName,
--    HostName, Status, ProxyPort, SuspectTimes, StartTime, IAmAliveTime, Version.
--  * Conditional writes answer with one single-column row: non-zero on success,
--    zero when the expected version did not match (Orleans then retries).
--  * SiloStatus values: 3 = Active, 6 = Dead.

CREATE TABLE IF NOT EXISTS OrleansMembershipVersionTable
(
    DeploymentId varchar(150) NOT NULL,
    Timestamp    timestamptz  NOT NULL DEFAULT now(),
    Version      integer      NOT NULL DEFAULT 0,
    CONSTRAINT PK_OrleansMembershipVersionTable_DeploymentId PRIMARY KEY (DeploymentId)
);

CREATE TABLE IF NOT EXISTS OrleansMembershipTable
(
    DeploymentId varchar(150)  NOT NULL,
    Address      varchar(45)   NOT NULL,
    Port         integer       NOT NULL,
    Generation   integer       NOT NULL,
    SiloName     varchar(150)  NOT NULL,
    HostName     varchar(150)  NOT NULL,
    Status       integer       NOT NULL,
    ProxyPort    integer       NULL,
    SuspectTimes varchar(8000) NULL,
    StartTime    timestamptz   NOT NULL,
    IAmAliveTime timestamptz   NOT NULL,
    CONSTRAINT PK_MembershipTable_DeploymentId PRIMARY KEY (DeploymentId, Address, Port, Generation),
    CONSTRAINT FK_MembershipTable_MembershipVersionTable_DeploymentId
        FOREIGN KEY (DeploymentId) REFERENCES OrleansMembershipVersionTable (DeploymentId)
);

-- Creates the version row of a cluster once. Answers 1 when this call created it, else 0.
CREATE OR REPLACE FUNCTION ocap_membership_add_version(p_deployment_id varchar)
RETURNS integer
LANGUAGE sql
AS $body$
    WITH created AS (
        INSERT INTO OrleansMembershipVersionTable (DeploymentId)
        VALUES (p_deployment_id)
        ON CONFLICT (DeploymentId) DO NOTHING
        RETURNING 1
    )
    SELECT count(*)::integer FROM created;
$body$;

-- Moves the cluster version on by one if it still equals p_expected_version (which also
-- locks the version row, serialising writers). True when it did.
CREATE OR REPLACE FUNCTION ocap_membership_bump_version(p_deployment_id varchar, p_expected_version integer)
RETURNS boolean
LANGUAGE sql
AS $body$
    WITH bumped AS (
        UPDATE OrleansMembershipVersionTable
           SET Version = Version + 1,
               Timestamp = now()
         WHERE DeploymentId = p_deployment_id
           AND Version = p_expected_version
        RETURNING 1
    )
    SELECT count(*) > 0 FROM bumped;
$body$;

-- Adds a silo row, but only if the cluster version still equals p_expected_version.
-- The version row is bumped first (which also locks it, serialising writers); a
-- duplicate silo key raises unique_violation, and the handler below then undoes
-- the bump because the whole block is rolled back to its implicit savepoint.
CREATE OR REPLACE FUNCTION ocap_membership_add_silo(
    p_deployment_id     varchar,
    p_address           varchar,
    p_port              integer,
    p_generation        integer,
    p_silo_name         varchar,
    p_host_name         varchar,
    p_status            integer,
    p_proxy_port        integer,
    p_start_time        timestamptz,
    p_i_am_alive_time   timestamptz,
    p_expected_version  integer)
RETURNS integer
LANGUAGE plpgsql
AS $body$
BEGIN
    IF NOT ocap_membership_bump_version(p_deployment_id, p_expected_version) THEN
        RETURN 0;
    END IF;

    INSERT INTO OrleansMembershipTable
        (DeploymentId, Address, Port, Generation, SiloName, HostName,
         Status, ProxyPort, StartTime, IAmAliveTime)
    VALUES
        (p_deployment_id, p_address, p_port, p_generation, p_silo_name, p_host_name,
         p_status, p_proxy_port, p_start_time, p_i_am_alive_time);
    RETURN 1;
EXCEPTION
    WHEN unique_violation THEN
        RETURN 0;
END;
$body$;

-- Changes status / suspicions / heartbeat of an existing silo row, guarded by the
-- cluster version exactly like ocap_membership_add_silo. A missing silo row raises
-- no_data_found so that the version bump is rolled back as well.
CREATE OR REPLACE FUNCTION ocap_membership_change_silo(
    p_deployment_id     varchar,
    p_address           varchar,
    p_port              integer,
    p_generation        integer,
    p_status            integer,
    p_suspect_times     varchar,
    p_i_am_alive_time   timestamptz,
    p_expected_version  integer)
RETURNS integer
LANGUAGE plpgsql
AS $body$
DECLARE
    touched integer;
BEGIN
    IF NOT ocap_membership_bump_version(p_deployment_id, p_expected_version) THEN
        RETURN 0;
    END IF;

    UPDATE OrleansMembershipTable
       SET Status = p_status,
           SuspectTimes = p_suspect_times,
           IAmAliveTime = p_i_am_alive_time
     WHERE DeploymentId = p_deployment_id
       AND Address = p_address
       AND Port = p_port
       AND Generation = p_generation;
    GET DIAGNOSTICS touched = ROW_COUNT;
    IF touched = 0 THEN
        RAISE SQLSTATE 'P0002';
    END IF;
    RETURN 1;
EXCEPTION
    WHEN no_data_found THEN
        RETURN 0;
END;
$body$;

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES
('InsertMembershipVersionKey', '
SELECT ocap_membership_add_version(@DeploymentId) AS Inserted;
'),
('InsertMembershipKey', '
SELECT ocap_membership_add_silo(
    @DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName,
    @Status, @ProxyPort, @StartTime, @IAmAliveTime, @Version) AS Inserted;
'),
('UpdateMembershipKey', '
SELECT ocap_membership_change_silo(
    @DeploymentId, @Address, @Port, @Generation,
    @Status, @SuspectTimes, @IAmAliveTime, @Version) AS Updated;
'),
('UpdateIAmAlivetimeKey', '
UPDATE OrleansMembershipTable
   SET IAmAliveTime = @IAmAliveTime
 WHERE DeploymentId = @DeploymentId
   AND Address = @Address
   AND Port = @Port
   AND Generation = @Generation;
'),
('MembershipReadRowKey', '
SELECT ver.DeploymentId, silo.Address, silo.Port, silo.Generation, silo.SiloName,
       silo.HostName, silo.Status, silo.ProxyPort, silo.SuspectTimes,
       silo.StartTime, silo.IAmAliveTime, ver.Version
  FROM OrleansMembershipVersionTable AS ver
  LEFT JOIN OrleansMembershipTable AS silo
         ON silo.DeploymentId = ver.DeploymentId
        AND silo.Address = @Address
        AND silo.Port = @Port
        AND silo.Generation = @Generation
 WHERE ver.DeploymentId = @DeploymentId;
'),
('MembershipReadAllKey', '
SELECT ver.DeploymentId, silo.Address, silo.Port, silo.Generation, silo.SiloName,
       silo.HostName, silo.Status, silo.ProxyPort, silo.SuspectTimes,
       silo.StartTime, silo.IAmAliveTime, ver.Version
  FROM OrleansMembershipVersionTable AS ver
  LEFT JOIN OrleansMembershipTable AS silo
         ON silo.DeploymentId = ver.DeploymentId
 WHERE ver.DeploymentId = @DeploymentId;
'),
('GatewaysQueryKey', '
SELECT Address, ProxyPort, Generation
  FROM OrleansMembershipTable
 WHERE DeploymentId = @DeploymentId
   AND Status = @Status
   AND ProxyPort > 0;
'),
('DeleteMembershipTableEntriesKey', '
DELETE FROM OrleansMembershipTable WHERE DeploymentId = @DeploymentId;
DELETE FROM OrleansMembershipVersionTable WHERE DeploymentId = @DeploymentId;
'),
-- Bulk clean-up of Dead silos whose last heartbeat is older than @IAmAliveTime.
-- 10.4.2 only uses this when CleanupDefunctSiloEntryKey (below) is absent.
('CleanupDefunctSiloEntriesKey', '
DELETE FROM OrleansMembershipTable
 WHERE DeploymentId = @DeploymentId
   AND Status = 6
   AND IAmAliveTime < @IAmAliveTime
   AND StartTime < @IAmAliveTime
   AND COALESCE(SuspectTimes, '''') = '''';
'),
-- Optional in 10.4.2, preferred when present: removes one Dead silo row, but only
-- while it still holds exactly the values Orleans read a moment earlier.
('CleanupDefunctSiloEntryKey', '
DELETE FROM OrleansMembershipTable
 WHERE DeploymentId = @DeploymentId
   AND Address = @Address
   AND Port = @Port
   AND Generation = @Generation
   AND Status = 6
   AND StartTime = @StartTime
   AND IAmAliveTime = @IAmAliveTime
   AND COALESCE(SuspectTimes, '''') = COALESCE(@SuspectTimes, '''');
')
ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;
