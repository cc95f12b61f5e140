output "bucket" {
  description = "Bucket Ore writes to (GCS_BUCKET of Ore and Masora)."
  value       = google_storage_bucket.logs.name
}

output "gcs_prefix" {
  description = "Object prefix of the layout (GCS_PREFIX of Ore and Masora)."
  value       = var.gcs_prefix
}

output "log_types" {
  description = "Log types found in schemas/, each with an analytics view, a table per version and lifecycle rules."
  value       = sort(tolist(local.log_types))
}

output "analytics_tables" {
  description = "Analysts' views, project.dataset.view per log type: every schema version read as the latest."
  value       = { for lt, t in google_bigquery_table.log_views : lt => "${var.project_id}.${t.dataset_id}.${t.table_id}" }
}

output "analytics_version_tables" {
  description = "Analysts' external tables, project.dataset.table per <log_type>_v<N>: the files of one schema version."
  value       = { for k, t in google_bigquery_table.logs : k => "${var.project_id}.${t.dataset_id}.${t.table_id}" }
}

output "masora_dataset" {
  description = "Masora's working dataset (BIGQUERY_DATASET)."
  value       = google_bigquery_dataset.masora.dataset_id
}

output "masora_url" {
  description = "Masora's deterministic service URL: the scheduler's target and the OIDC audience."
  value       = local.masora_url
}

output "masora_uri" {
  description = "The URL Cloud Run reports for the service (serves the same service)."
  value       = google_cloud_run_v2_service.masora.uri
}

output "masora_migrate_job" {
  description = "Cloud Run job that applies the database migrations: gcloud run jobs execute <this> --region <region> --wait"
  value       = google_cloud_run_v2_job.masora_migrate.name
}

output "masora_service_account" {
  description = "Email of Masora's service account."
  value       = google_service_account.masora.email
}

output "scheduler_service_account" {
  description = "Email of the service account whose OIDC tokens may trigger Masora (MASORA_OIDC_ALLOWED_EMAILS)."
  value       = google_service_account.scheduler.email
}

output "database_url_secret" {
  description = "With cloud_sql = false: the Secret Manager secret holding Masora's DATABASE_URL; add a version with: printf %s \"$DATABASE_URL\" | gcloud secrets versions add <this> --data-file=-. Null with Cloud SQL."
  value       = one(google_secret_manager_secret.database_url[*].secret_id)
}

output "cloudsql_instance" {
  description = "Cloud SQL instance name (gcloud sql ... --instance), null without Cloud SQL."
  value       = one(google_sql_database_instance.reports[*].name)
}

output "cloudsql_connection_name" {
  description = "Cloud SQL instance connection name project:region:instance (MASORA_CLOUDSQL_INSTANCE), null without Cloud SQL."
  value       = one(google_sql_database_instance.reports[*].connection_name)
}

output "masora_db_user" {
  description = "Masora's IAM database user (DATABASE_URL's user with Cloud SQL), null without Cloud SQL."
  value       = var.cloud_sql ? local.masora_db_user : null
}

output "image_repository" {
  description = "Artifact Registry Docker repository for Masora's image: <this>/masora:<tag>."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "ore_service_account" {
  description = "Email of the service account Ore impersonates; it may only create objects in the bucket."
  value       = google_service_account.ore.email
}

output "workload_identity_provider" {
  description = "Full resource name of the AWS workload identity provider."
  value       = google_iam_workload_identity_pool_provider.aws.name
}

output "ore_credential_config" {
  description = "External-account credential configuration for Ore (no secret inside). Pass it to infra/aws as gcp_credential_config: terraform output -raw ore_credential_config."
  value       = local.ore_credential_config
}

output "scheduler_job" {
  description = "Cloud Scheduler job that triggers /run; run it now with: gcloud scheduler jobs run <this> --location <region>"
  value       = google_cloud_scheduler_job.masora_run.name
}
