locals {
  # One generated schema file schemas/<log_type>_v<N>.json per version N of each log type
  # (written by `go run ./tools/cmd/bqschema-gen` from schemas/logtypes/): adding a log type
  # or a version is "regenerate, apply" and gives it a lifecycle rule and analytics tables.
  log_type_versions = {
    for f in fileset("${path.module}/schemas", "*.json") : trimsuffix(f, ".json") => {
      log_type = regex("^(.+)_v([1-9][0-9]*)\\.json$", f)[0]
      version  = tonumber(regex("^(.+)_v([1-9][0-9]*)\\.json$", f)[1])
    }
  }
  log_types = toset([for t in values(local.log_type_versions) : t.log_type])

  # Object layout (libs/layout): <prefix>/<log_type>/dt=YYYY-MM-DD/hour=HH/<name>.v<N>.parquet
  # (N the schema version) and <prefix>/_quarantine/dt=YYYY-MM-DD/hour=HH/<name>.jsonl.
  data_prefixes     = [for lt in local.log_types : "${var.gcs_prefix}/${lt}/"]
  quarantine_prefix = "${var.gcs_prefix}/_quarantine/"
}

# The bucket Ore writes to and Masora reads from. Objects are immutable (a name is never
# reused), so there is no versioning; access is IAM only (uniform), never public.
resource "google_storage_bucket" "logs" {
  name                        = var.bucket_name
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = var.labels

  versioning {
    enabled = false
  }

  # Old partitions: cheaper storage class first ...
  dynamic "lifecycle_rule" {
    for_each = var.nearline_after_days > 0 ? [var.nearline_after_days] : []
    content {
      condition {
        age                   = lifecycle_rule.value
        matches_prefix        = local.data_prefixes
        matches_storage_class = ["STANDARD"]
      }
      action {
        type          = "SetStorageClass"
        storage_class = "NEARLINE"
      }
    }
  }

  # ... then deletion.
  dynamic "lifecycle_rule" {
    for_each = var.data_retention_days > 0 ? [var.data_retention_days] : []
    content {
      condition {
        age            = lifecycle_rule.value
        matches_prefix = local.data_prefixes
      }
      action {
        type = "Delete"
      }
    }
  }

  # Quarantined messages have their own retention: long enough to fix and replay bad input.
  lifecycle_rule {
    condition {
      age            = var.quarantine_retention_days
      matches_prefix = [local.quarantine_prefix]
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}

# Masora lists and reads new objects; BigQuery reads them with Masora's credentials when it
# queries the external tables Masora creates.
resource "google_storage_bucket_iam_member" "masora_reader" {
  bucket = google_storage_bucket.logs.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.masora.member
}

resource "google_storage_bucket_iam_member" "analysts_reader" {
  for_each = toset(var.analysts)

  bucket = google_storage_bucket.logs.name
  role   = "roles/storage.objectViewer"
  member = each.value
}
