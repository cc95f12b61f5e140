-- Bad messages become data: Masora loads the quarantine objects Ore writes
-- (<prefix>/_quarantine/dt=.../hour=HH/<hash>.jsonl) with the same manifest
-- and exactly-once rules as the event tables.
--
-- One row per quarantined SQS message id: after a crash between Ore's upload
-- and its delete the same message sits in two quarantine objects, and it
-- counts once.
CREATE TABLE quarantined_messages (
    message_id     text        PRIMARY KEY,
    -- log_type is the log type the message claimed ('' when it named none).
    log_type       text        NOT NULL,
    -- reason_kind is a stable category of the reason (quarantine.Kind*);
    -- reason is Ore's full text.
    reason_kind    text        NOT NULL,
    reason         text        NOT NULL,
    -- source and event_id are read from the body when it had them as strings.
    source         text,
    event_id       text,
    -- body is the original body: as text when it was valid UTF-8, else
    -- body_base64 holds its bytes in base64 and body is NULL.
    body           text,
    body_base64    text,
    received_at    timestamptz NOT NULL,
    writer_version text        NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantined_messages_received_at_idx ON quarantined_messages (received_at);

-- The hourly data-quality summary: quarantined messages per received_at hour
-- (UTC), log type, source ('' when unknown) and reason kind. Like the event
-- summaries it always equals a recount from quarantined_messages.
CREATE TABLE quarantine_hourly (
    hour        timestamptz NOT NULL,
    log_type    text        NOT NULL,
    source      text        NOT NULL,
    reason_kind text        NOT NULL,
    messages    bigint      NOT NULL,
    PRIMARY KEY (hour, log_type, source, reason_kind)
);
