# Analysts' dataset: one permanent hive-partitioned external table per schema version of each
# log type over that version's parquet files (an external table must not mix versions: a file
# is read against its table's schema by column), and one view per log type over them. The
# schemas come from schemas/<log_type>_v<N>.json and the views' queries from
# views/<log_type>.sql, generated from the shared definitions (schemas/logtypes/) by
# `go run ./tools/cmd/bqschema-gen`; never edit them by hand.
resource "google_bigquery_dataset" "analytics" {
  dataset_id  = var.analytics_dataset_id
  location    = var.location
  description = "Ore's parquet files: a view per log type (every schema version read as the latest) over an external table per version, partitioned by dt (DATE) and hour (INTEGER) of receipt, UTC. Queries must filter on dt."
  labels      = var.labels

  depends_on = [google_project_service.this]
}

# <log_type>_v<N>: the files Ore wrote with version N of the log type's definition, selected by
# name (libs/layout: <prefix>/<log_type>/dt=…/hour=…/<name>.v<N>.parquet; one wildcard per URI).
resource "google_bigquery_table" "logs" {
  for_each = local.log_type_versions

  dataset_id  = google_bigquery_dataset.analytics.dataset_id
  table_id    = each.key
  description = "Log type ${each.value.log_type}, schema version ${each.value.version} only, read from gs://${google_storage_bucket.logs.name}/${var.gcs_prefix}/${each.value.log_type}/*.v${each.value.version}.parquet. Query the view ${each.value.log_type} for every version. Partition columns dt and hour are the UTC hour Ore received the events; filter on them."
  labels      = var.labels

  # An external table holds no data (the files stay in the bucket): do not block recreating it.
  deletion_protection = false

  external_data_configuration {
    source_format = "PARQUET"
    autodetect    = false
    source_uris   = ["gs://${google_storage_bucket.logs.name}/${var.gcs_prefix}/${each.value.log_type}/*.v${each.value.version}.parquet"]

    # The provider's place for an external table's schema (not the top-level `schema`). A
    # change recreates the table, which is harmless: it holds no data.
    schema = file("${path.module}/schemas/${each.key}.json")

    hive_partitioning_options {
      mode                     = "CUSTOM"
      source_uri_prefix        = "gs://${google_storage_bucket.logs.name}/${var.gcs_prefix}/${each.value.log_type}/{dt:DATE}/{hour:INTEGER}"
      require_partition_filter = true
    }
  }
}

# <log_type>: every version's table read as the latest version (the columns an older version
# lacks as typed NULLs, the select list Masora uses for a chunk of several versions), UNION ALL.
resource "google_bigquery_table" "log_views" {
  for_each = local.log_types

  dataset_id  = google_bigquery_dataset.analytics.dataset_id
  table_id    = each.key
  description = "Log type ${each.key}, every schema version read as the latest, over the tables ${join(", ", sort([for k, t in local.log_type_versions : k if t.log_type == each.key]))}. Partition columns dt and hour are the UTC hour Ore received the events; filter on dt."
  labels      = var.labels

  # A view holds no data: do not block recreating it.
  deletion_protection = false

  view {
    query = templatefile("${path.module}/views/${each.key}.sql", {
      project = var.project_id
      dataset = google_bigquery_dataset.analytics.dataset_id
    })
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.logs]
}

resource "google_bigquery_dataset_iam_member" "analysts_viewer" {
  for_each = toset(var.analysts)

  dataset_id = google_bigquery_dataset.analytics.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value
}

resource "google_project_iam_member" "analysts_job_user" {
  for_each = toset(var.analysts)

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = each.value
}

# Masora's own dataset: it creates an external table over the new objects of a run, queries
# it, and drops it. Tables expire by default in case a run dies before dropping one.
resource "google_bigquery_dataset" "masora" {
  dataset_id                  = var.masora_dataset_id
  location                    = var.location
  description                 = "Masora's short-lived external tables; managed by Masora, not for people."
  default_table_expiration_ms = var.masora_table_expiration_hours * 3600 * 1000
  delete_contents_on_destroy  = true
  labels                      = var.labels

  depends_on = [google_project_service.this]
}

# Create, query and delete tables in its own dataset only.
resource "google_bigquery_dataset_iam_member" "masora_editor" {
  dataset_id = google_bigquery_dataset.masora.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.masora.member
}

# Run query jobs (billed to this project).
resource "google_project_iam_member" "masora_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.masora.member
}

# Read query results through the Storage Read API.
resource "google_project_iam_member" "masora_read_session_user" {
  count = var.masora_bigquery_storage_read ? 1 : 0

  project = var.project_id
  role    = "roles/bigquery.readSessionUser"
  member  = google_service_account.masora.member
}
