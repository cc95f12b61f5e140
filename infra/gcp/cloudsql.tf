# The reporting Postgres: Cloud SQL for PostgreSQL by default (var.cloud_sql), reached by Masora
# through the Cloud SQL Go connector with IAM database authentication, so no database password
# exists anywhere: Masora's service account logs in as its IAM database user with a short-lived
# token of its own, and the connector authorizes (roles/cloudsql.client) and encrypts every
# connection. With cloud_sql = false nothing here is created and Masora reads DATABASE_URL from
# Secret Manager (masora.tf).
#
# Address: the connector dials the instance's public IP by default. That needs no VPC, no
# Serverless VPC connector and no authorized network: the public IP accepts only connections
# with a client certificate the connector obtained for an identity allowed to connect
# (ssl_mode TRUSTED_CLIENT_CERTIFICATE_REQUIRED, no authorized networks). A private IP
# (cloudsql_ip_type = "private") keeps the instance off the internet but needs a VPC with
# private services access (cloudsql_private_network) and Masora's direct VPC egress
# (vpc_network); see README.md.

locals {
  cloudsql_private = var.cloud_sql && var.cloudsql_ip_type == "private"

  # Postgres name of Masora's IAM database user: its service account's email without
  # .gserviceaccount.com (Cloud SQL's rule for CLOUD_IAM_SERVICE_ACCOUNT users on Postgres).
  masora_db_user = trimsuffix(google_service_account.masora.email, ".gserviceaccount.com")
}

resource "google_sql_database_instance" "reports" {
  count = var.cloud_sql ? 1 : 0

  name                = "${var.name_prefix}-reports"
  region              = var.region
  database_version    = var.cloudsql_database_version
  deletion_protection = var.deletion_protection

  settings {
    tier                        = var.cloudsql_tier
    edition                     = "ENTERPRISE"
    availability_type           = var.cloudsql_availability_type
    disk_autoresize             = true
    disk_size                   = var.cloudsql_disk_size_gb
    deletion_protection_enabled = var.deletion_protection
    user_labels                 = var.labels

    # IAM database authentication: Masora logs in with its Google identity, no password.
    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }

    ip_configuration {
      ipv4_enabled    = !local.cloudsql_private
      private_network = local.cloudsql_private ? var.cloudsql_private_network : null
      # Only clients with a certificate from the Cloud SQL Admin API (the connector, the Auth
      # Proxy) may connect; there are no authorized networks.
      ssl_mode = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      start_time                     = "02:00"
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = var.cloudsql_retained_backups
      }
    }

    insights_config {
      query_insights_enabled = true
    }
  }

  lifecycle {
    precondition {
      condition     = var.cloudsql_ip_type != "private" || var.cloudsql_private_network != null
      error_message = "cloudsql_ip_type = \"private\" needs cloudsql_private_network (a VPC with private services access) and vpc_network for Masora's egress."
    }
    precondition {
      condition     = var.cloudsql_ip_type != "private" || var.vpc_network != null
      error_message = "cloudsql_ip_type = \"private\": set vpc_network (and vpc_subnetwork) so Masora's service and job reach the private IP."
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_sql_database" "reports" {
  count = var.cloud_sql ? 1 : 0

  name     = var.cloudsql_database_name
  instance = google_sql_database_instance.reports[0].name
}

# Masora's IAM database user. A new IAM user has no privileges on the database: grant it the
# cloudsqlsuperuser role once, after the first apply (README.md, step 6: gcloud sql users
# assign-roles), so the migrate job can create the tables. Nothing else ever logs in.
resource "google_sql_user" "masora" {
  count = var.cloud_sql ? 1 : 0

  name     = local.masora_db_user
  instance = google_sql_database_instance.reports[0].name
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
}

locals {
  # IAM conditions that hold the Cloud SQL grants to this one instance.
  cloudsql_instance_condition = var.cloud_sql ? {
    title       = "reports-instance-only"
    description = "Only the instance ${var.name_prefix}-reports."
    expression  = "resource.type == \"sqladmin.googleapis.com/Instance\" && resource.name == \"projects/${var.project_id}/instances/${google_sql_database_instance.reports[0].name}\""
  } : null
}

# Connect through the connector (cloudsql.instances.connect, get) ...
resource "google_project_iam_member" "masora_cloudsql_client" {
  count = var.cloud_sql ? 1 : 0

  project = var.project_id
  role    = "roles/cloudsql.client"
  member  = google_service_account.masora.member

  condition {
    title       = local.cloudsql_instance_condition.title
    description = local.cloudsql_instance_condition.description
    expression  = local.cloudsql_instance_condition.expression
  }
}

# ... and log in as the IAM database user (cloudsql.instances.login).
resource "google_project_iam_member" "masora_cloudsql_instance_user" {
  count = var.cloud_sql ? 1 : 0

  project = var.project_id
  role    = "roles/cloudsql.instanceUser"
  member  = google_service_account.masora.member

  condition {
    title       = local.cloudsql_instance_condition.title
    description = local.cloudsql_instance_condition.description
    expression  = local.cloudsql_instance_condition.expression
  }
}

# The connector reports its connection metrics to Cloud Monitoring (fail-open; without this role
# it logs one warning per process).
resource "google_project_iam_member" "masora_metric_writer" {
  count = var.cloud_sql ? 1 : 0

  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = google_service_account.masora.member
}
