# Ore runs in AWS Lambda and writes to the bucket as a GCP service account, through Workload
# Identity Federation: the Lambda signs an AWS GetCallerIdentity request with its role's
# temporary credentials, Google STS verifies it and the Lambda impersonates the service
# account. No service account key exists anywhere.

locals {
  # The attribute the default AWS mapping derives from an assumed-role ARN
  # (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION -> arn:aws:sts::ACCOUNT:assumed-role/ROLE).
  ore_aws_role = "arn:aws:sts::${var.aws_account_id}:assumed-role/${var.ore_lambda_role_name}"
}

resource "google_service_account" "ore" {
  account_id   = "${var.name_prefix}-ore"
  display_name = "Ore (AWS Lambda, via workload identity federation)"
  description  = "Writes parquet and quarantine objects to gs://${var.bucket_name}; nothing else."

  depends_on = [google_project_service.this]
}

locals {
  # IAM condition: objects under Ore's prefix only (its data, _quarantine/ and _doctor/).
  ore_prefix_condition = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.logs.name}/objects/${var.gcs_prefix}/\")"
}

# Ore creates objects with a does-not-exist precondition, under its prefix only; it never
# overwrites, deletes or lists.
resource "google_storage_bucket_iam_member" "ore_writer" {
  bucket = google_storage_bucket.logs.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.ore.member

  condition {
    title       = "ore-prefix"
    description = "Objects under ${var.gcs_prefix}/ only."
    expression  = local.ore_prefix_condition
  }
}

# When a name already exists GCS answers 412, or 403 to a caller without
# storage.objects.delete (taking an existing name is an overwrite). To tell "already there"
# from "not allowed", Ore reads the existing object's metadata (content key, CRC32C), which
# needs storage.objects.get: only that permission, and only under Ore's prefix (its data,
# _quarantine/ and _doctor/ objects).
resource "google_project_iam_custom_role" "ore_object_get" {
  role_id     = "${replace(var.name_prefix, "-", "_")}_ore_object_get"
  title       = "Ore: read the metadata of its own objects"
  description = "storage.objects.get, granted on gs://${var.bucket_name}/${var.gcs_prefix}/ only, so Ore can recognize a repeated write."
  permissions = ["storage.objects.get"]

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket_iam_member" "ore_object_get" {
  bucket = google_storage_bucket.logs.name
  role   = google_project_iam_custom_role.ore_object_get.id
  member = google_service_account.ore.member

  condition {
    title       = "ore-prefix"
    description = "Objects under ${var.gcs_prefix}/ only."
    expression  = local.ore_prefix_condition
  }
}

resource "google_iam_workload_identity_pool" "aws" {
  workload_identity_pool_id = var.workload_identity_pool_id
  display_name              = "Ore on AWS"
  description               = "AWS account ${var.aws_account_id}, for Ore's Lambda."

  depends_on = [google_project_service.this]
}

resource "google_iam_workload_identity_pool_provider" "aws" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.aws.workload_identity_pool_id
  workload_identity_pool_provider_id = var.workload_identity_provider_id
  display_name                       = "AWS ${var.aws_account_id}"

  aws {
    account_id = var.aws_account_id
  }

  attribute_mapping = {
    "google.subject"     = "assertion.arn"
    "attribute.aws_role" = "assertion.arn.contains('assumed-role') ? assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/') : assertion.arn"
  }

  # Reject every identity of the account except Ore's Lambda role.
  attribute_condition = "attribute.aws_role == \"${local.ore_aws_role}\""
}

# Sessions of Ore's Lambda role may act as Ore's service account.
resource "google_service_account_iam_member" "ore_workload_identity_user" {
  service_account_id = google_service_account.ore.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.aws.name}/attribute.aws_role/${local.ore_aws_role}"
}

locals {
  # The credential configuration file Ore loads through GOOGLE_APPLICATION_CREDENTIALS: what
  # `gcloud iam workload-identity-pools create-cred-config ... --aws` writes. It contains no
  # secret. In Lambda the AWS credentials and region come from the runtime's environment
  # variables, so the metadata URLs below are only a fallback.
  ore_credential_config = jsonencode({
    type                              = "external_account"
    audience                          = "//iam.googleapis.com/${google_iam_workload_identity_pool_provider.aws.name}"
    subject_token_type                = "urn:ietf:params:aws:token-type:aws4_request"
    token_url                         = "https://sts.googleapis.com/v1/token"
    service_account_impersonation_url = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${google_service_account.ore.email}:generateAccessToken"
    credential_source = {
      environment_id                 = "aws1"
      region_url                     = "http://169.254.169.254/latest/meta-data/placement/availability-zone"
      url                            = "http://169.254.169.254/latest/meta-data/iam/security-credentials"
      regional_cred_verification_url = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    }
  })
}
