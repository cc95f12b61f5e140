locals {
  lambda_zip = coalesce(var.lambda_zip, "${path.module}/../../dist/ore-lambda-${var.lambda_architecture == "x86_64" ? "amd64" : "arm64"}.zip")

  function_name = "${var.name_prefix}-ore"

  # Where the layer below puts the GCP credential configuration.
  gcp_credentials_path = "/opt/gcp/credentials.json"

  ore_env = merge(var.ore_extra_env, {
    ORE_MODE                       = "lambda"
    GCS_BUCKET                     = var.gcs_bucket
    GCS_PREFIX                     = var.gcs_prefix
    LOG_LEVEL                      = var.log_level
    GOOGLE_APPLICATION_CREDENTIALS = local.gcp_credentials_path
  })
}

# --- Identity ----------------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# Sessions of this role are what GCP's workload identity provider trusts (infra/gcp).
resource "aws_iam_role" "ore" {
  name               = var.lambda_role_name
  description        = "Ore's Lambda: consume ${aws_sqs_queue.events.name}, write its log group. GCP access goes through workload identity federation."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# Exactly what the SQS event source mapping and the function need: receive and delete on the
# events queue, logs in the function's own group. No wildcard resources.
data "aws_iam_policy_document" "ore" {
  statement {
    sid = "ConsumeEvents"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.events.arn]
  }

  statement {
    sid = "WriteLogs"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = ["${aws_cloudwatch_log_group.ore.arn}:*"]
  }
}

resource "aws_iam_role_policy" "ore" {
  name   = "ore"
  role   = aws_iam_role.ore.id
  policy = data.aws_iam_policy_document.ore.json
}

# --- Function ------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "ore" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
}

# The external-account credential configuration from infra/gcp, as /opt/gcp/credentials.json.
data "archive_file" "gcp_credentials" {
  type             = "zip"
  output_path      = "${path.module}/.terraform/build/gcp-credentials-layer.zip"
  output_file_mode = "0644" # the same bytes on every machine, whatever its umask

  source {
    content  = var.gcp_credential_config
    filename = "gcp/credentials.json"
  }
}

resource "aws_lambda_layer_version" "gcp_credentials" {
  layer_name               = "${var.name_prefix}-ore-gcp-credentials"
  description              = "Workload identity federation credential configuration for Ore (no secret)."
  filename                 = data.archive_file.gcp_credentials.output_path
  source_code_hash         = data.archive_file.gcp_credentials.output_base64sha256
  compatible_runtimes      = ["provided.al2023"]
  compatible_architectures = [var.lambda_architecture]
}

resource "aws_lambda_function" "ore" {
  function_name = local.function_name
  description   = "Ore: SQS events to parquet files in gs://${var.gcs_bucket}/${var.gcs_prefix}/"
  role          = aws_iam_role.ore.arn

  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.lambda_architecture]
  filename      = local.lambda_zip
  # `make lambda-zip` writes the same bytes for the same source (tools/internal/lambdazip), so
  # an apply without code changes deploys nothing.
  source_code_hash = filebase64sha256(local.lambda_zip)
  layers           = [aws_lambda_layer_version.gcp_credentials.arn]

  timeout                        = var.lambda_timeout_seconds
  memory_size                    = var.lambda_memory_mb
  reserved_concurrent_executions = var.lambda_reserved_concurrency

  environment {
    variables = local.ore_env
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.ore.name
  }

  depends_on = [aws_iam_role_policy.ore]
}

# Batches from the queue, with partial batch responses: Ore reports the message ids it could
# not store, only those are retried (and after max_receive_count receives, dead-lettered).
resource "aws_lambda_event_source_mapping" "ore" {
  event_source_arn                   = aws_sqs_queue.events.arn
  function_name                      = aws_lambda_function.ore.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }

  lifecycle {
    precondition {
      condition     = var.batch_size <= 10 || var.batching_window_seconds >= 1
      error_message = "batching_window_seconds must be at least 1 when batch_size is over 10 (an SQS event source mapping rule)."
    }
    precondition {
      condition     = var.lambda_reserved_concurrency < 0 || var.lambda_reserved_concurrency >= var.maximum_concurrency
      error_message = "lambda_reserved_concurrency must be at least maximum_concurrency, or the event source mapping gets throttled."
    }
  }
}
