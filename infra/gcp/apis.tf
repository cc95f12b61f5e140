# The APIs this stack uses, enabled before anything that needs them: every resource that calls
# one of these APIs depends on google_project_service.this, so a fresh project applies in one
# go. They stay enabled on destroy: other workloads in the project may depend on them.
#
# Service Usage (to enable the others) and Cloud Resource Manager (project metadata, project
# IAM) must answer before Terraform can enable anything: on a project created by
# `gcloud projects create` they are on by default; the README's first step enables them
# anyway.
locals {
  apis = concat([
    "artifactregistry.googleapis.com",     # Masora's image repository
    "bigquery.googleapis.com",             # datasets, external tables, jobs
    "bigquerystorage.googleapis.com",      # Masora's Storage Read API reads
    "cloudresourcemanager.googleapis.com", # project number, project IAM bindings
    "cloudscheduler.googleapis.com",       # the hourly trigger
    "iam.googleapis.com",                  # service accounts, custom roles, workload identity pool
    "iamcredentials.googleapis.com",       # Ore's service account impersonation, OIDC tokens
    "logging.googleapis.com",              # log-based metrics
    "monitoring.googleapis.com",           # alert policies; the Cloud SQL connector's metrics
    "run.googleapis.com",                  # Masora's service and migrate job
    "secretmanager.googleapis.com",        # DATABASE_URL when you bring your own Postgres
    "serviceusage.googleapis.com",         # enabling these
    "storage.googleapis.com",              # the bucket
    "sts.googleapis.com",                  # workload identity federation token exchange
    ], var.cloud_sql ? [
    "sqladmin.googleapis.com", # the instance; the connector's certificate and IAM login
  ] : [])
}

resource "google_project_service" "this" {
  for_each = toset(local.apis)

  service            = each.value
  disable_on_destroy = false
}

data "google_project" "this" {
  project_id = var.project_id

  depends_on = [google_project_service.this]
}
