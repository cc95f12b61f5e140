# Cloud Scheduler POSTs Masora's /run every hour with a Google-signed OIDC ID token of its own
# service account; that account may invoke the service and nothing else.

resource "google_service_account" "scheduler" {
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "Cloud Scheduler caller of Masora"
  description  = "Identity of the scheduler job that triggers Masora's /run; may only invoke the Masora service."

  depends_on = [google_project_service.this]
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invoker" {
  project  = google_cloud_run_v2_service.masora.project
  location = google_cloud_run_v2_service.masora.location
  name     = google_cloud_run_v2_service.masora.name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

resource "google_cloud_scheduler_job" "masora_run" {
  name        = "${var.name_prefix}-masora-run"
  region      = var.region
  description = "Hourly trigger of Masora's /run: load the new parquet objects into Postgres."
  schedule    = var.schedule
  time_zone   = var.schedule_time_zone

  # Cloud Scheduler waits at most 30 minutes for an HTTP target.
  attempt_deadline = "${min(var.masora_timeout_seconds, 1800)}s"

  # A failed run (5xx, or 409 while a previous run still holds the lock) is retried; a run
  # that retries after a partial load only loads what is still missing.
  retry_config {
    retry_count          = 3
    min_backoff_duration = "60s"
    max_backoff_duration = "600s"
    max_doublings        = 3
  }

  http_target {
    http_method = "POST"
    uri         = "${local.masora_url}/run"

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = local.masora_url
    }
  }

  depends_on = [
    google_project_service.this,
    google_cloud_run_v2_service_iam_member.scheduler_invoker,
  ]
}
