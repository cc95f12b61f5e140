variable "project_id" {
  description = "GCP project that holds the bucket, the BigQuery datasets, Masora and the scheduler."
  type        = string
}

variable "region" {
  description = "Region of Cloud Run, Cloud Scheduler and Secret Manager replicas, e.g. europe-west1."
  type        = string
}

variable "location" {
  description = "Location of the bucket and both BigQuery datasets (a multi-region such as EU or US, or a region). BigQuery can only read a bucket in a compatible location, so keep them together."
  type        = string
  default     = "EU"
}

variable "name_prefix" {
  description = "Prefix of every resource name (service accounts, service, job, pool). Lower case letters, digits and hyphens."
  type        = string
  default     = "ore-masora"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 characters of lower case letters, digits and hyphens, starting with a letter (service account ids derived from it are limited to 30 characters)."
  }
}

variable "labels" {
  description = "Labels added to every resource that supports them."
  type        = map(string)
  default     = {}
}

# --- Bucket -----------------------------------------------------------------------------------

variable "bucket_name" {
  description = "Globally unique name of the bucket Ore writes parquet files to (GCS_BUCKET)."
  type        = string
}

variable "gcs_prefix" {
  description = "Object prefix under which Ore writes <log_type>/dt=YYYY-MM-DD/hour=HH/*.parquet and _quarantine/... (GCS_PREFIX). No leading or trailing slash."
  type        = string
  default     = "logs"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.gcs_prefix))
    error_message = "gcs_prefix must be a relative object prefix without leading or trailing slash, e.g. logs."
  }
}

variable "nearline_after_days" {
  description = "Move data objects (not quarantine) to NEARLINE this many days after they were written; 0 keeps them in STANDARD. Masora loads an object within hours of its hour closing, so only backfills and analysts read older data (and pay NEARLINE retrieval)."
  type        = number
  default     = 30

  validation {
    condition     = var.nearline_after_days >= 0
    error_message = "nearline_after_days must be 0 (disabled) or a positive number of days."
  }
}

variable "data_retention_days" {
  description = "Delete data objects (old partitions) this many days after they were written; 0 keeps them forever. After deletion the analysts' external tables no longer see those hours and backfills of them are impossible."
  type        = number
  default     = 400

  validation {
    condition     = var.data_retention_days >= 0
    error_message = "data_retention_days must be 0 (keep forever) or a positive number of days."
  }
}

variable "quarantine_retention_days" {
  description = "Delete quarantined messages (<prefix>/_quarantine/...) this many days after they were written. Keep it longer than the time you need to notice, fix and replay bad input."
  type        = number
  default     = 90

  validation {
    condition     = var.quarantine_retention_days > 0
    error_message = "quarantine_retention_days must be a positive number of days."
  }
}

# --- BigQuery ---------------------------------------------------------------------------------

variable "analytics_dataset_id" {
  description = "Dataset of the permanent hive-partitioned external tables, one per log type, for analysts. Masora cannot write to it."
  type        = string
  default     = "ore_masora_logs"
}

variable "masora_dataset_id" {
  description = "Dataset where Masora creates and drops its short-lived external tables (BIGQUERY_DATASET). Nobody else needs access."
  type        = string
  default     = "ore_masora_work"
}

variable "masora_table_expiration_hours" {
  description = "Default expiration of tables in Masora's dataset: a safety net that removes a table Masora failed to drop (e.g. it was killed mid-run)."
  type        = number
  default     = 24

  validation {
    condition     = var.masora_table_expiration_hours >= 1
    error_message = "masora_table_expiration_hours must be at least 1 (BigQuery's minimum default table expiration is one hour)."
  }
}

variable "analysts" {
  description = "IAM members (e.g. group:analysts@example.com) who may query the external tables: they get BigQuery data viewer on the analytics dataset, object viewer on the bucket (external tables read the files with the caller's credentials) and job user on the project."
  type        = list(string)
  default     = []
}

# --- Masora on Cloud Run ----------------------------------------------------------------------

variable "masora_image" {
  description = "Container image of Masora (built from services/masora/Dockerfile and pushed to the repository this stack creates, output image_repository), preferably pinned by digest."
  type        = string
}

variable "masora_min_instances" {
  description = "Minimum number of Masora instances. 0 lets the service scale to zero between the hourly runs."
  type        = number
  default     = 0
}

variable "masora_max_instances" {
  description = "Maximum number of Masora instances. Masora runs are safe to overlap (ARCHITECTURE.md invariant 3), so this only bounds cost and load on Postgres."
  type        = number
  default     = 2

  validation {
    condition     = var.masora_max_instances >= 1
    error_message = "masora_max_instances must be at least 1."
  }
}

variable "masora_timeout_seconds" {
  description = "Request timeout of Masora on Cloud Run, in seconds (at most 3600). A /run must finish within it; it is also the scheduler's attempt deadline, capped at 1800 s by Cloud Scheduler."
  type        = number
  default     = 1800

  validation {
    condition     = var.masora_timeout_seconds >= 60 && var.masora_timeout_seconds <= 3600
    error_message = "masora_timeout_seconds must be between 60 and 3600."
  }
}

variable "masora_cpu" {
  description = "CPU limit of a Masora instance."
  type        = string
  default     = "1"
}

variable "masora_memory" {
  description = "Memory limit of a Masora instance."
  type        = string
  default     = "1Gi"
}

variable "masora_bigquery_storage_read" {
  description = "Read query results through the BigQuery Storage Read API (faster for large results). Grants Masora the read session user role when true."
  type        = bool
  default     = true
}

variable "masora_extra_env" {
  description = "Additional plain environment variables for Masora (MASORA_* tuning knobs). Must not contain secrets or the variables this stack sets."
  type        = map(string)
  default     = {}
}

variable "log_level" {
  description = "LOG_LEVEL of Masora: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be one of debug, info, warn, error."
  }
}

variable "vpc_network" {
  description = "VPC network for Masora's direct VPC egress, when Postgres is only reachable on a private address (cloudsql_ip_type = \"private\", or your own private Postgres). Null disables VPC egress."
  type        = string
  default     = null
}

variable "vpc_subnetwork" {
  description = "Subnetwork for Masora's direct VPC egress; used only with vpc_network."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Protect Masora's Cloud Run service and migrate job from terraform destroy. Set to false and apply before destroying. (The external tables hold no data and are never protected.)"
  type        = bool
  default     = true
}

# --- Reporting Postgres ---------------------------------------------------------------------

variable "cloud_sql" {
  description = "Create the reporting Postgres as a Cloud SQL for PostgreSQL instance that Masora reaches through the Cloud SQL Go connector with IAM database authentication (no password anywhere). False: bring your own Postgres, whose DATABASE_URL you put in the Secret Manager secret this stack then creates (output database_url_secret)."
  type        = bool
  default     = true
}

variable "cloudsql_ip_type" {
  description = "Address of the instance the connector dials: public (no VPC needed; only connections with a connector certificate of an identity holding roles/cloudsql.client are accepted, no authorized networks) or private (no public IP; needs cloudsql_private_network with private services access and vpc_network for Masora's egress)."
  type        = string
  default     = "public"

  validation {
    condition     = contains(["public", "private"], var.cloudsql_ip_type)
    error_message = "cloudsql_ip_type must be public or private."
  }
}

variable "cloudsql_private_network" {
  description = "Self link of the VPC network of the instance's private IP (projects/P/global/networks/N), with private services access configured; only with cloudsql_ip_type = \"private\"."
  type        = string
  default     = null
}

variable "cloudsql_database_version" {
  description = "PostgreSQL version of the instance."
  type        = string
  default     = "POSTGRES_16"
}

variable "cloudsql_tier" {
  description = "Machine type of the instance (Enterprise edition), e.g. db-custom-1-3840 (1 vCPU, 3.75 GB) or db-custom-2-7680."
  type        = string
  default     = "db-custom-1-3840"
}

variable "cloudsql_availability_type" {
  description = "ZONAL, or REGIONAL for a standby in a second zone (twice the cost, automatic failover)."
  type        = string
  default     = "ZONAL"

  validation {
    condition     = contains(["ZONAL", "REGIONAL"], var.cloudsql_availability_type)
    error_message = "cloudsql_availability_type must be ZONAL or REGIONAL."
  }
}

variable "cloudsql_disk_size_gb" {
  description = "Initial disk size of the instance in GB; it grows automatically."
  type        = number
  default     = 20
}

variable "cloudsql_retained_backups" {
  description = "Daily backups kept (point-in-time recovery covers the last 7 days)."
  type        = number
  default     = 14
}

variable "cloudsql_database_name" {
  description = "Name of the reporting database in the instance."
  type        = string
  default     = "reports"
}

# --- Alerts -----------------------------------------------------------------------------------

variable "notification_channels" {
  description = "Cloud Monitoring notification channels (projects/P/notificationChannels/ID) every alert notifies; create one first, e.g. gcloud beta monitoring channels create --type=email --channel-labels=email_address=oncall@example.com."
  type        = list(string)

  validation {
    condition     = length(var.notification_channels) > 0
    error_message = "notification_channels must name at least one channel: alerts nobody receives are not alerts."
  }
}

variable "freshness_hours" {
  description = "Alert when no Masora run loaded new objects of a log type for this many hours (1 to 24, Cloud Monitoring's longest absence window)."
  type        = number
  default     = 6

  validation {
    condition     = var.freshness_hours >= 1 && var.freshness_hours <= 24
    error_message = "freshness_hours must be between 1 and 24."
  }
}

variable "masora_5xx_threshold" {
  description = "Alert when Masora answers more than this many 5xx in 5 minutes."
  type        = number
  default     = 0
}

# --- Cloud Scheduler --------------------------------------------------------------------------

variable "schedule" {
  description = "Cron schedule of the scheduler job that POSTs Masora's /run."
  type        = string
  default     = "5 * * * *"
}

variable "schedule_time_zone" {
  description = "Time zone of the schedule."
  type        = string
  default     = "Etc/UTC"
}

# --- Ore's identity (Workload Identity Federation from AWS) -----------------------------------

variable "aws_account_id" {
  description = "AWS account that runs Ore's Lambda (12 digits). Only that account's tokens are accepted by the workload identity provider."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id must be 12 digits."
  }
}

variable "ore_lambda_role_name" {
  description = "Name of the IAM role of Ore's Lambda in that account; must equal lambda_role_name in infra/aws. Only sessions of this role may impersonate Ore's service account."
  type        = string
  default     = "ore-masora-ore-lambda"
}

variable "workload_identity_pool_id" {
  description = "Id of the workload identity pool for Ore. A deleted pool id stays reserved for 30 days, so pick a new one if you recreate the stack."
  type        = string
  default     = "ore-masora-aws"
}

variable "workload_identity_provider_id" {
  description = "Id of the AWS provider in the pool."
  type        = string
  default     = "aws"
}
