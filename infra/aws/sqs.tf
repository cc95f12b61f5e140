locals {
  # AWS: "set the source queue's visibility timeout to at least six times the timeout that you
  # configure on your function", plus the batching window during which the event source mapping
  # already holds the messages.
  visibility_timeout_seconds = 6 * var.lambda_timeout_seconds + var.batching_window_seconds

  # SQS takes message bodies up to 1 MiB since August 2025 (Amazon SQS message quotas), and Ore
  # and the producer library accept that much. The AWS provider still defaults
  # max_message_size to the old 262,144, so a queue it creates refuses anything over 256 KiB
  # unless this is set; provider releases before the change also refuse the value at plan time
  # ("expected max_message_size to be in the range (1024 - 262144)"): then upgrade the provider.
  max_message_size = 1048576
}

# Messages that failed max_receive_count times. Nothing consumes it: an operator inspects and
# redrives it to the main queue (README.md, "Operate").
resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name_prefix}-events-dlq"
  message_retention_seconds = var.dlq_retention_seconds
  max_message_size          = local.max_message_size
  sqs_managed_sse_enabled   = true
}

# The queue producers send events to (SQS message attribute log_type, JSON body).
resource "aws_sqs_queue" "events" {
  name                       = "${var.name_prefix}-events"
  message_retention_seconds  = var.message_retention_seconds
  max_message_size           = local.max_message_size
  visibility_timeout_seconds = local.visibility_timeout_seconds
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  lifecycle {
    precondition {
      condition     = local.visibility_timeout_seconds <= 43200
      error_message = "The visibility timeout (6 x lambda_timeout_seconds + batching_window_seconds) exceeds SQS's 12 hour maximum."
    }
    precondition {
      condition     = var.dlq_retention_seconds > var.message_retention_seconds
      error_message = "dlq_retention_seconds must exceed message_retention_seconds: SQS keeps the original enqueue time of a message moved to the DLQ."
    }
  }
}

# Only the events queue may use the DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.events.arn]
  })
}

# Queue policies: every request without TLS is denied, whoever sends it. The events queue also
# lets the producer accounts listed in producer_account_ids send (their own IAM policies must
# allow it too: output producer_policy_json).
data "aws_iam_policy_document" "tls_only" {
  for_each = {
    events = aws_sqs_queue.events.arn
    dlq    = aws_sqs_queue.dlq.arn
  }

  statement {
    sid       = "DenyWithoutTLS"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "events" && length(var.producer_account_ids) > 0 ? [var.producer_account_ids] : []
    content {
      sid       = "ProducerAccountsSend"
      effect    = "Allow"
      actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
      resources = [each.value]

      principals {
        type        = "AWS"
        identifiers = [for id in statement.value : "arn:aws:iam::${id}:root"]
      }
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.tls_only["events"].json
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.tls_only["dlq"].json
}
