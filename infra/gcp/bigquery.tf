# Analysts' dataset: one permanent hive-partitioned external table per log type over Ore's
# parquet files. The schema comes from schemas/<log_type>.json, generated from the shared
# definition (schemas/logtypes/) by `go run ./tools/cmd/bqschema-gen`; never edit it by hand.
resource "google_bigquery_dataset" "analytics" {
  dataset_id  = var.analytics_dataset_id
  location    = var.location
  description = "Ore's parquet files as external tables, one per log type, partitioned by dt (DATE) and hour (INTEGER) of receipt, UTC. Queries must filter on dt."
  labels      = var.labels

  depends_on = [google_project_service.this]
}

resource "google_bigquery_table" "logs" {
  for_each = local.log_types

  dataset_id  = google_bigquery_dataset.analytics.dataset_id
  table_id    = each.key
  description = "Log type ${each.key} (latest schema version), read from gs://${google_storage_bucket.logs.name}/${var.gcs_prefix}/${each.key}/. Partition columns dt and hour are the UTC hour Ore received the events; filter on them."
  labels      = var.labels

  # An external table holds no data (the files stay in the bucket): do not block recreating it.
  deletion_protection = false

  external_data_configuration {
    source_format = "PARQUET"
    autodetect    = false
    source_uris   = ["gs://${google_storage_bucket.logs.name}/${var.gcs_prefix}/${each.key}/*.parquet"]

    # The provider's place for an external table's schema (not the top-level `schema`). A
    # change recreates the table, which is harmless: it holds no data.
    schema = file("${path.module}/schemas/${each.key}.json")

    hive_partitioning_options {
      mode                     = "CUSTOM"
      source_uri_prefix        = "gs://${google_storage_bucket.logs.name}/${var.gcs_prefix}/${each.key}/{dt:DATE}/{hour:INTEGER}"
      require_partition_filter = true
    }
  }
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
