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

# Masora lists and reads the objects, and reads the bucket's metadata (its location, which
# `masora doctor` compares with the dataset's); BigQuery reads the objects with Masora's
# credentials when it queries the external tables Masora creates. Nothing to write.
resource "google_project_iam_custom_role" "masora_bucket_reader" {
  role_id     = "${replace(var.name_prefix, "-", "_")}_masora_bucket_reader"
  title       = "Masora: read the logs bucket"
  description = "storage.buckets.get, storage.objects.get and storage.objects.list, granted on gs://${var.bucket_name} only: what BigQuery external tables over the bucket need. No write."
  permissions = ["storage.buckets.get", "storage.objects.get", "storage.objects.list"]

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket_iam_member" "masora_reader" {
  bucket = google_storage_bucket.logs.name
  role   = google_project_iam_custom_role.masora_bucket_reader.id
  member = google_service_account.masora.member
}

# Analysts read the data objects through their external tables, but not the quarantine: its
# objects hold raw rejected bodies, which may hold personal data. The condition applies to
# object reads (storage.objects.get); listing, checked on the bucket, shows the quarantine's
# object names (hashes and hour folders), never their content.
resource "google_storage_bucket_iam_member" "analysts_reader" {
  for_each = toset(var.analysts)

  bucket = google_storage_bucket.logs.name
  role   = "roles/storage.objectViewer"
  member = each.value

  condition {
    title       = "no-quarantine"
    description = "Everything but ${local.quarantine_prefix}."
    expression  = "!resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.logs.name}/objects/${local.quarantine_prefix}\")"
  }
}
