output "queue_url" {
  description = "URL of the events queue (SQS_QUEUE_URL of producers and of Ore in poll mode)."
  value       = aws_sqs_queue.events.id
}

output "queue_arn" {
  description = "ARN of the events queue."
  value       = aws_sqs_queue.events.arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.id
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue (the source of a redrive back to the events queue)."
  value       = aws_sqs_queue.dlq.arn
}

output "visibility_timeout_seconds" {
  description = "Visibility timeout of the events queue, derived from the function timeout."
  value       = aws_sqs_queue.events.visibility_timeout_seconds
}

output "function_name" {
  description = "Name of Ore's Lambda function."
  value       = aws_lambda_function.ore.function_name
}

output "lambda_role_arn" {
  description = "ARN of the function's role; its sessions are trusted by infra/gcp's workload identity provider."
  value       = aws_iam_role.ore.arn
}

output "log_group" {
  description = "CloudWatch log group of the function."
  value       = aws_cloudwatch_log_group.ore.name
}

output "producer_policy_json" {
  description = "IAM policy a producer needs to publish events: attach it to the producers' roles (in this account, or in a producer_account_ids account, whose queue policy statement lets them in)."
  value = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "PublishEvents"
      Effect   = "Allow"
      Action   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
      Resource = aws_sqs_queue.events.arn
    }]
  })
}

output "queue_policy_json" {
  description = "The events queue's policy: TLS only, plus sending for producer_account_ids."
  value       = aws_sqs_queue_policy.events.policy
}
