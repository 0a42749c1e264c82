-- OcapDgc: Orleans ADO.NET catalogue for PostgreSQL (apply first).
--
-- Every Orleans ADO.NET provider starts by running
--     SELECT QueryKey, QueryText FROM OrleansQuery
-- and afterwards only executes the statements it found there, binding its values
-- as named parameters (@Name). The later scripts register their statements in
-- this table, so the table must exist before any of them runs.
--
-- Re-running this file is harmless.

CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  varchar(64)   NOT NULL,
    QueryText varchar(8000) NOT NULL,
    CONSTRAINT OrleansQuery_Key PRIMARY KEY (QueryKey)
);
