# Messages in the DLQ mean a batch kept failing (GCS unreachable, a bug, a crash): events are
# waiting for an operator to fix the cause and redrive them.
resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  alarm_name          = "${var.name_prefix}-ore-dlq-not-empty"
  alarm_description   = "Messages in ${aws_sqs_queue.dlq.name}: Ore failed on them ${var.max_receive_count} times. Find the cause in the function's logs, fix it, then redrive the DLQ to ${aws_sqs_queue.events.name} (infra/aws/README.md)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.dlq_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

# Failed invocations: a crash, a timeout, or a handler error for the whole batch. (Events Ore
# quarantined and per-message failures reported in the batch response are not errors.)
resource "aws_cloudwatch_metric_alarm" "function_errors" {
  alarm_name          = "${var.name_prefix}-ore-errors"
  alarm_description   = "Invocations of ${aws_lambda_function.ore.function_name} failed. Their messages will be retried and, after ${var.max_receive_count} receives, dead-lettered. See the log group ${aws_cloudwatch_log_group.ore.name}."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.ore.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.errors_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

# A growing backlog: Ore is throttled, failing, or the mapping is disabled.
resource "aws_cloudwatch_metric_alarm" "queue_backlog" {
  alarm_name          = "${var.name_prefix}-ore-backlog"
  alarm_description   = "The oldest message in ${aws_sqs_queue.events.name} is older than ${var.oldest_message_alarm_seconds}s: Ore is not keeping up. Messages expire after ${var.message_retention_seconds}s."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.events.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.oldest_message_alarm_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

# Dead letters wait for an operator, but only until dlq_retention_seconds after they were first
# sent (SQS keeps the original enqueue time): alarm long before they expire.
resource "aws_cloudwatch_metric_alarm" "dlq_age" {
  alarm_name          = "${var.name_prefix}-ore-dlq-aging"
  alarm_description   = "The oldest message in ${aws_sqs_queue.dlq.name} is older than ${var.dlq_oldest_message_alarm_seconds}s; it is deleted ${var.dlq_retention_seconds}s after it was first sent. Fix the cause and redrive the DLQ to ${aws_sqs_queue.events.name} (infra/aws/README.md)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.dlq_oldest_message_alarm_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

# Throttled invocations: the account's concurrency limit or the function's reserved
# concurrency is reached, so batches wait in the queue (and the backlog grows).
resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  alarm_name          = "${var.name_prefix}-ore-throttles"
  alarm_description   = "Invocations of ${aws_lambda_function.ore.function_name} were throttled: raise lambda_reserved_concurrency or the account's concurrency quota, or lower maximum_concurrency."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.ore.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.throttles_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}
