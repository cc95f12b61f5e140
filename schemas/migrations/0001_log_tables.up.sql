-- Row-level tables, one per log type, and their hourly summaries.
-- Column names, types and nullability must match the log type definitions in
-- schemas/logtypes (checked by libs/reportdb tests against a real Postgres).

CREATE TABLE user_actions (
    event_id       uuid        PRIMARY KEY,
    occurred_at    timestamptz NOT NULL,
    source         text        NOT NULL,
    action         text        NOT NULL,
    channel        text        NOT NULL,
    user_id        text        NOT NULL,
    session_id     text,
    product_id     text,
    cart_id        text,
    order_id       text,
    quantity       bigint,
    amount_cents   bigint,
    currency       text,
    attributes     jsonb,
    extra_fields   jsonb,
    message_id     text        NOT NULL,
    received_at    timestamptz NOT NULL,
    writer_version text        NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_actions_occurred_at_idx ON user_actions (occurred_at);

CREATE TABLE seller_actions (
    event_id       uuid        PRIMARY KEY,
    occurred_at    timestamptz NOT NULL,
    source         text        NOT NULL,
    action         text        NOT NULL,
    seller_id      text        NOT NULL,
    session_id     text,
    product_id     text,
    order_id       text,
    package_id     text,
    old_status     text,
    new_status     text,
    stock          bigint,
    attributes     jsonb,
    extra_fields   jsonb,
    message_id     text        NOT NULL,
    received_at    timestamptz NOT NULL,
    writer_version text        NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seller_actions_occurred_at_idx ON seller_actions (occurred_at);

-- Hourly summaries by occurred_at hour (UTC). Masora recomputes the hours a
-- load touches from the row tables in the same transaction, so a summary row
-- always equals a recomputation.
CREATE TABLE user_action_hourly (
    hour           timestamptz NOT NULL,
    action         text        NOT NULL,
    channel        text        NOT NULL,
    events         bigint      NOT NULL,
    distinct_users bigint      NOT NULL,
    PRIMARY KEY (hour, action, channel)
);

CREATE TABLE seller_action_hourly (
    hour             timestamptz NOT NULL,
    action           text        NOT NULL,
    events           bigint      NOT NULL,
    distinct_sellers bigint      NOT NULL,
    PRIMARY KEY (hour, action)
);
