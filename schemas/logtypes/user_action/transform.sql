-- Transform of user_action rows, from the external table over one chunk of
-- Ore's parquet files to the rows Masora copies into Postgres user_actions.
--
-- Contract (checked by Masora before it loads anything):
--   * The placeholder in the FROM clause is the only substitution: Masora
--     replaces it with the chunk's source: the validated, backquoted
--     identifier of its external table when all its files are of the latest
--     version, else a generated subquery with the latest version's columns,
--     (SELECT ... FROM v1_table UNION ALL SELECT ... FROM v2_table), one
--     external table per schema version, the columns a version lacks as
--     CAST(NULL AS type). Either way a source without an alias: write the
--     SQL against the latest version. The tables are new per chunk and
--     deleted after the query. Values are never spliced into this text; a
--     transform that needs one takes it as a BigQuery query parameter (@name).
--   * The result has exactly the columns of the latest definition
--     (schema.LogType.Columns), in that order and with those names.
--   * At most one row per event_id: SQS delivers at least once, so the same
--     event can be in several files; the first one Ore received wins, and
--     Postgres' key on event_id drops what was loaded by earlier chunks.
SELECT
  event_id,
  occurred_at,
  source,
  action,
  channel,
  user_id,
  session_id,
  product_id,
  cart_id,
  order_id,
  quantity,
  amount_cents,
  currency,
  app_version,
  attributes,
  extra_fields,
  message_id,
  received_at,
  writer_version
FROM {{source_table}}
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY received_at, message_id) = 1
