# Masora on Cloud Run: `masora serve` listens on $PORT (set by Cloud Run) and loads new parquet
# objects into Postgres when Cloud Scheduler POSTs /run.

locals {
  masora_service_name = "${var.name_prefix}-masora"

  # The service's deterministic URL. It is known before the service exists, so it can be both
  # Masora's own OIDC audience (an environment variable of the service) and the scheduler's
  # target and audience. Cloud Run also serves the service on the URL in the `uri` attribute.
  masora_url = "https://${local.masora_service_name}-${data.google_project.this.number}.${var.region}.run.app"

  masora_env = merge(var.masora_extra_env, {
    LOG_LEVEL                    = var.log_level
    GCS_BUCKET                   = google_storage_bucket.logs.name
    GCS_PREFIX                   = var.gcs_prefix
    BIGQUERY_PROJECT             = var.project_id
    BIGQUERY_DATASET             = google_bigquery_dataset.masora.dataset_id
    BIGQUERY_LOCATION            = google_bigquery_dataset.masora.location
    MASORA_BIGQUERY_STORAGE_READ = tostring(var.masora_bigquery_storage_read)
    # Only Google-signed ID tokens for this URL, issued to the scheduler's service account,
    # may trigger /run and /backfill (Cloud Run's IAM check runs first; this is the second).
    MASORA_OIDC_AUDIENCE       = local.masora_url
    MASORA_OIDC_ALLOWED_EMAILS = google_service_account.scheduler.email
  })
}

resource "google_service_account" "masora" {
  account_id   = "${var.name_prefix}-masora"
  display_name = "Masora (Cloud Run)"
  description  = "Reads gs://${var.bucket_name}, manages tables in ${var.masora_dataset_id}, runs BigQuery jobs, logs in to the reporting Postgres."

  depends_on = [google_project_service.this]
}

# Masora's container images (services/masora/Dockerfile), pushed before the service is
# created (README.md).
resource "google_artifact_registry_repository" "images" {
  repository_id = "${var.name_prefix}-images"
  location      = var.region
  format        = "DOCKER"
  description   = "Container images of Masora (and Ore's poll mode)."
  labels        = var.labels

  depends_on = [google_project_service.this]
}

# Bring your own Postgres (cloud_sql = false): its connection string, in a secret Terraform
# creates without a value, so the password never enters the Terraform state. Add a version
# with gcloud before the service is created (README.md). Replicated in var.region only.
resource "google_secret_manager_secret" "database_url" {
  count = var.cloud_sql ? 0 : 1

  secret_id = "${var.name_prefix}-database-url"
  labels    = var.labels

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_secret_manager_secret_iam_member" "masora_database_url" {
  count = var.cloud_sql ? 0 : 1

  secret_id = google_secret_manager_secret.database_url[0].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.masora.member
}

locals {
  # Direct VPC egress for the service and the migrate job, when Postgres is private.
  masora_vpc = var.vpc_network == null ? [] : [{ network = var.vpc_network, subnetwork = var.vpc_subnetwork }]

  # How Masora reaches Postgres. Cloud SQL: through the connector, DATABASE_URL naming only the
  # database and the IAM database user (no host, no password: nothing secret). Otherwise:
  # DATABASE_URL from the secret.
  masora_db_env = var.cloud_sql ? {
    DATABASE_URL             = "user=${local.masora_db_user} dbname=${var.cloudsql_database_name}"
    MASORA_CLOUDSQL_INSTANCE = google_sql_database_instance.reports[0].connection_name
    MASORA_CLOUDSQL_IP_TYPE  = var.cloudsql_ip_type
  } : {}
  masora_db_secret = var.cloud_sql ? [] : [google_secret_manager_secret.database_url[0].secret_id]
}

resource "google_cloud_run_v2_service" "masora" {
  name                = local.masora_service_name
  location            = var.region
  description         = "Masora: loads Ore's parquet files into Postgres through BigQuery."
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection
  labels              = var.labels

  # The audience the scheduler's OIDC token names (its deterministic URL), so Cloud Run's own
  # IAM check accepts exactly what Masora's MASORA_OIDC_AUDIENCE check does.
  custom_audiences = [local.masora_url]

  template {
    service_account = google_service_account.masora.email
    timeout         = "${var.masora_timeout_seconds}s"

    scaling {
      min_instance_count = var.masora_min_instances
      max_instance_count = var.masora_max_instances
    }

    dynamic "vpc_access" {
      for_each = local.masora_vpc
      content {
        egress = "PRIVATE_RANGES_ONLY"
        network_interfaces {
          network    = vpc_access.value.network
          subnetwork = vpc_access.value.subnetwork
        }
      }
    }

    containers {
      image = var.masora_image
      args  = ["serve"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.masora_cpu
          memory = var.masora_memory
        }
        # CPU is only needed while a request (a run) is in flight.
        cpu_idle = true
      }

      dynamic "env" {
        for_each = merge(local.masora_env, local.masora_db_env)
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.masora_db_secret
        content {
          name = "DATABASE_URL"
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      # /healthz (the process serves), not /readyz: a revision must deploy even while Postgres
      # lacks this release's migrations, which the migrate job applies afterwards. /readyz
      # (Postgres tables, dataset, bucket) is for operators: see README.md.
      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 2
        timeout_seconds   = 2
        failure_threshold = 15
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds = 30
      }
    }
  }

  # Masora's access to Postgres exists before the service or a job execution starts (each
  # list is empty when it does not apply).
  depends_on = [
    google_project_service.this,
    google_secret_manager_secret_iam_member.masora_database_url,
    google_project_iam_member.masora_cloudsql_client,
    google_project_iam_member.masora_cloudsql_instance_user,
    google_sql_user.masora,
    google_sql_database.reports,
  ]
}

# `masora migrate`: applies the reporting database's forward-only migrations. Execute it after
# the first apply and after every image change that brings migrations, before the next run:
#   gcloud run jobs execute <masora_migrate_job> --region <region> --wait
# A failed execution alerts (alerts.tf).
resource "google_cloud_run_v2_job" "masora_migrate" {
  name                = "${local.masora_service_name}-migrate"
  location            = var.region
  deletion_protection = var.deletion_protection
  labels              = var.labels

  template {
    task_count = 1

    template {
      service_account = google_service_account.masora.email
      timeout         = "600s"
      max_retries     = 1

      dynamic "vpc_access" {
        for_each = local.masora_vpc
        content {
          egress = "PRIVATE_RANGES_ONLY"
          network_interfaces {
            network    = vpc_access.value.network
            subnetwork = vpc_access.value.subnetwork
          }
        }
      }

      containers {
        image = var.masora_image
        args  = ["migrate"]

        # The service's configuration, so that the same job also runs `masora doctor`
        # (gcloud run jobs execute <job> --args=doctor).
        dynamic "env" {
          for_each = merge(local.masora_env, local.masora_db_env)
          content {
            name  = env.key
            value = env.value
          }
        }

        dynamic "env" {
          for_each = local.masora_db_secret
          content {
            name = "DATABASE_URL"
            value_source {
              secret_key_ref {
                secret  = env.value
                version = "latest"
              }
            }
          }
        }
      }
    }
  }

  # Masora's access to Postgres exists before the service or a job execution starts (each
  # list is empty when it does not apply).
  depends_on = [
    google_project_service.this,
    google_secret_manager_secret_iam_member.masora_database_url,
    google_project_iam_member.masora_cloudsql_client,
    google_project_iam_member.masora_cloudsql_instance_user,
    google_sql_user.masora,
    google_sql_database.reports,
  ]
}
