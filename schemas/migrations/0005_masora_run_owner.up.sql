-- Who owns a running run, so that a run that lost its lock stops, and a run
-- is marked 'abandoned' only when its process is really gone.
--
-- lock_pid and lock_backend_start name the Postgres session holding the log
-- type's run lock for the run (pg_stat_activity's pid and backend_start: a
-- pid alone can be reused by a later session). Each chunk's transaction
-- checks in pg_locks that this session still holds the lock; a Postgres
-- restart or a broken connection ends the session and releases the lock,
-- and the run then takes the lock again or stops before its next chunk.
-- NULL: a run started without the lock (tests of the loader alone).
--
-- heartbeat_at is the last time the process running the run said it was
-- alive (every few seconds, through any connection). The next run of the
-- log type marks a 'running' run abandoned only when it is older than the
-- lease (internal/ledger Lease).
ALTER TABLE masora_runs
    ADD COLUMN lock_pid           integer,
    ADD COLUMN lock_backend_start timestamptz,
    ADD COLUMN heartbeat_at       timestamptz;
