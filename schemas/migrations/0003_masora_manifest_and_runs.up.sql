-- Masora's own state: the run history and the load manifest.
--
-- masora_runs has one row per log type per run (scheduled, backfill or CLI).
-- A run row is inserted as 'running' before any work; every committed chunk
-- adds its counts in the chunk's own transaction, so the counts always match
-- what is committed; the run ends 'succeeded' or 'failed' with its error. A
-- run left 'running' by a process that died is marked 'abandoned' by the next
-- run of the same log type (which holds the log type's lock).
CREATE TABLE masora_runs (
    run_id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    log_type           text        NOT NULL,
    trigger            text        NOT NULL CHECK (trigger IN ('schedule', 'backfill', 'cli')),
    window_from        timestamptz NOT NULL,
    window_to          timestamptz NOT NULL,
    status             text        NOT NULL DEFAULT 'running'
                                   CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    objects_listed     integer     NOT NULL DEFAULT 0,
    objects_new        integer     NOT NULL DEFAULT 0,
    objects_loaded     integer     NOT NULL DEFAULT 0,
    objects_failed     integer     NOT NULL DEFAULT 0,
    chunks_loaded      integer     NOT NULL DEFAULT 0,
    rows_loaded        bigint      NOT NULL DEFAULT 0,
    duplicates_skipped bigint      NOT NULL DEFAULT 0,
    error              text,
    CHECK ((status = 'running') = (finished_at IS NULL))
);
CREATE INDEX masora_runs_log_type_started_idx ON masora_runs (log_type, started_at DESC);
CREATE INDEX masora_runs_started_idx ON masora_runs (started_at DESC);

-- masora_manifest is the single record of what has been loaded: one row per
-- parquet object (name + generation), inserted in the transaction that loads
-- the object's rows. An object is loaded if and only if it is here.
CREATE TABLE masora_manifest (
    object_name text        NOT NULL,
    generation  bigint      NOT NULL,
    log_type    text        NOT NULL,
    -- hour is the object's hour folder (when Ore received its rows, UTC).
    hour        timestamptz NOT NULL,
    size_bytes  bigint      NOT NULL,
    run_id      bigint      NOT NULL REFERENCES masora_runs (run_id),
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object_name, generation)
);
CREATE INDEX masora_manifest_log_type_hour_idx ON masora_manifest (log_type, hour);
