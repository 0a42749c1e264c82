-- OcapDgc: Orleans ADO.NET reminder table for PostgreSQL.
-- Requires 01-orleans-query.sql. Safe to apply repeatedly.
--
-- Contract notes (Microsoft.Orleans.Reminders.AdoNet 10.4.2):
--  * Parameters bound by Orleans: ServiceId, GrainId (GrainId.ToString()),
--    ReminderName, StartTime (UTC), Period (milliseconds; int, or bigint when it does
--    not fit an int), GrainHash (uniform hash, cast to a signed int), BeginHash and
--    EndHash (ring range bounds, signed ints), Version (the ETag as an int).
--  * Reads must return GrainId, ReminderName, StartTime, Period (read as a 64-bit
--    integer) and Version.
--  * UpsertReminderRowKey answers the new Version; DeleteReminderRowKey answers one
--    single-column row that is true/non-zero when the row with that version was removed.
--  * ReadRangeRows1Key serves ranges with BeginHash < EndHash (signed compare):
--    hashes in (BeginHash, EndHash]. ReadRangeRows2Key serves the wrapping ranges:
--    hashes above BeginHash or up to EndHash.

CREATE TABLE IF NOT EXISTS OrleansRemindersTable
(
    ServiceId    varchar(150) NOT NULL,
    GrainId      varchar(300) NOT NULL,
    ReminderName varchar(150) NOT NULL,
    StartTime    timestamptz  NOT NULL,
    Period       bigint       NOT NULL,
    GrainHash    integer      NOT NULL,
    Version      integer      NOT NULL,
    CONSTRAINT PK_RemindersTable_ServiceId_GrainId_ReminderName PRIMARY KEY (ServiceId, GrainId, ReminderName)
);

CREATE INDEX IF NOT EXISTS IX_RemindersTable_ServiceId_GrainHash
    ON OrleansRemindersTable (ServiceId, GrainHash);

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES
('UpsertReminderRowKey', '
INSERT INTO OrleansRemindersTable AS r
       (ServiceId, GrainId, ReminderName, StartTime, Period, GrainHash, Version)
VALUES (@ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash, 0)
ON CONFLICT (ServiceId, GrainId, ReminderName) DO UPDATE
   SET StartTime = EXCLUDED.StartTime,
       Period = EXCLUDED.Period,
       GrainHash = EXCLUDED.GrainHash,
       Version = r.Version + 1
RETURNING r.Version AS Version;
'),
('ReadReminderRowsKey', '
SELECT GrainId, ReminderName, StartTime, Period, Version
  FROM OrleansRemindersTable
 WHERE ServiceId = @ServiceId
   AND GrainId = @GrainId;
'),
('ReadReminderRowKey', '
SELECT GrainId, ReminderName, StartTime, Period, Version
  FROM OrleansRemindersTable
 WHERE ServiceId = @ServiceId
   AND GrainId = @GrainId
   AND ReminderName = @ReminderName;
'),
('ReadRangeRows1Key', '
SELECT GrainId, ReminderName, StartTime, Period, Version
  FROM OrleansRemindersTable
 WHERE ServiceId = @ServiceId
   AND GrainHash > @BeginHash
   AND GrainHash <= @EndHash;
'),
('ReadRangeRows2Key', '
SELECT GrainId, ReminderName, StartTime, Period, Version
  FROM OrleansRemindersTable
 WHERE ServiceId = @ServiceId
   AND (GrainHash > @BeginHash OR GrainHash <= @EndHash);
'),
('DeleteReminderRowKey', '
WITH removed AS (
    DELETE FROM OrleansRemindersTable
     WHERE ServiceId = @ServiceId
       AND GrainId = @GrainId
       AND ReminderName = @ReminderName
       AND Version = @Version
    RETURNING 1
)
SELECT count(*) > 0 AS Deleted FROM removed;
'),
('DeleteReminderRowsKey', '
DELETE FROM OrleansRemindersTable WHERE ServiceId = @ServiceId;
')
ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;
