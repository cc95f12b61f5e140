variable "region" {
  description = "AWS region of the queue and the Lambda, e.g. eu-west-1."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name (queues, function, alarms, layer)."
  type        = string
  default     = "ore-masora"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must be 1-40 letters, digits and hyphens."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

# --- Queue --------------------------------------------------------------------------------------

variable "message_retention_seconds" {
  description = "How long an unconsumed event stays in the queue (60 to 1209600). It bounds how long Ore can be down before events are lost."
  type        = number
  default     = 345600 # 4 days

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "dlq_retention_seconds" {
  description = "How long a message stays in the dead-letter queue (60 to 1209600). SQS keeps a message's original enqueue time when it moves it to a DLQ, so this must exceed message_retention_seconds or redriven messages expire early."
  type        = number
  default     = 1209600 # 14 days, the maximum

  validation {
    condition     = var.dlq_retention_seconds >= 60 && var.dlq_retention_seconds <= 1209600
    error_message = "dlq_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "max_receive_count" {
  description = "Receives of a message before SQS moves it to the DLQ. Ore quarantines invalid events itself, so only messages of batches that kept failing (e.g. GCS unreachable) get there."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

# --- Lambda -------------------------------------------------------------------------------------

variable "lambda_zip" {
  description = "Path of the Lambda deployment zip holding the `bootstrap` executable (built by `make lambda-zip`). Null means ../../dist/ore-lambda-<arch>.zip, arch arm64 or amd64 from lambda_architecture."
  type        = string
  default     = null
}

variable "lambda_architecture" {
  description = "Instruction set of the function: arm64 (cheaper per GB-second) or x86_64. Must match the zip."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "lambda_role_name" {
  description = "Name of the function's IAM role. infra/gcp trusts exactly this role (its ore_lambda_role_name) to impersonate Ore's GCP service account, so keep the two equal."
  type        = string
  default     = "ore-masora-ore-lambda"
}

variable "lambda_timeout_seconds" {
  description = "Function timeout (1 to 900). The queue's visibility timeout is derived from it: 6 x timeout + batching window, as AWS advises for SQS event sources."
  type        = number
  default     = 60

  validation {
    condition     = var.lambda_timeout_seconds >= 1 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be between 1 and 900."
  }
}

variable "lambda_memory_mb" {
  description = "Function memory in MB; CPU grows with it. A full batch (up to 6 MB of events) is decoded and written as parquet in memory."
  type        = number
  default     = 1024

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrent executions of the function; -1 leaves it unreserved. If set, it must be at least maximum_concurrency."
  type        = number
  default     = -1
}

variable "batch_size" {
  description = "Most messages per invocation (1 to 10000). Lambda also caps a batch at its 6 MB payload limit."
  type        = number
  default     = 10000

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "batching_window_seconds" {
  description = "Longest time the event source mapping gathers messages before invoking (0 to 300). Must be at least 1 when batch_size is over 10. Larger batches mean fewer, larger parquet files."
  type        = number
  default     = 5

  validation {
    condition     = var.batching_window_seconds >= 0 && var.batching_window_seconds <= 300
    error_message = "batching_window_seconds must be between 0 and 300."
  }
}

variable "maximum_concurrency" {
  description = "Most concurrent invocations the event source mapping starts (2 to 1000): bounds Ore's load on GCS and the number of files per hour."
  type        = number
  default     = 10

  validation {
    condition     = var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000
    error_message = "maximum_concurrency must be between 2 and 1000."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's CloudWatch log group, in days."
  type        = number
  default     = 30
}

variable "log_level" {
  description = "LOG_LEVEL of Ore: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be one of debug, info, warn, error."
  }
}

variable "ore_extra_env" {
  description = "Additional environment variables for the function (ORE_* tuning such as ORE_PARQUET_COMPRESSION, ORE_UPLOAD_CONCURRENCY). The variables this stack sets win."
  type        = map(string)
  default     = {}
}

variable "producer_account_ids" {
  description = "Other AWS accounts whose producers publish to the events queue (12 digits each): the queue policy lets them send; each still needs output producer_policy_json on its producers' roles. Empty: only this account's principals, through their IAM policies."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.producer_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "producer_account_ids must be 12-digit AWS account ids."
  }
}

# --- Destination (from infra/gcp) -------------------------------------------------------------

variable "gcs_bucket" {
  description = "Bucket Ore writes to: output bucket of infra/gcp."
  type        = string
}

variable "gcs_prefix" {
  description = "Object prefix of the layout: output gcs_prefix of infra/gcp."
  type        = string
  default     = "logs"
}

variable "gcp_credential_config" {
  description = "External-account credential configuration (JSON) that lets the function impersonate Ore's GCP service account through workload identity federation: `terraform -chdir=infra/gcp output -raw ore_credential_config`. It contains no secret; it is shipped in a Lambda layer as /opt/gcp/credentials.json."
  type        = string

  validation {
    condition     = try(jsondecode(var.gcp_credential_config).type == "external_account", false)
    error_message = "gcp_credential_config must be the JSON of an external_account credential configuration (terraform -chdir=infra/gcp output -raw ore_credential_config)."
  }
}

# --- Alarms -----------------------------------------------------------------------------------

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires or recovers, e.g. an SNS topic that pages the on-call. At least one: an alarm nobody receives is not an alarm."
  type        = list(string)

  validation {
    condition     = length(var.alarm_actions) > 0
    error_message = "alarm_actions must name at least one action, e.g. the ARN of an SNS topic."
  }
}

variable "dlq_alarm_threshold" {
  description = "Alarm when the DLQ holds more than this many visible messages. 0: any message in the DLQ alarms."
  type        = number
  default     = 0
}

variable "errors_alarm_threshold" {
  description = "Alarm when the function reports more than this many errors (crashes, timeouts, failed invocations) in 5 minutes. Events Ore quarantined do not count."
  type        = number
  default     = 0
}

variable "dlq_oldest_message_alarm_seconds" {
  description = "Alarm when the oldest message of the DLQ is older than this (seconds since it was first sent), well before dlq_retention_seconds deletes it."
  type        = number
  default     = 259200 # 3 days
}

variable "throttles_alarm_threshold" {
  description = "Alarm when the function is throttled more than this many times in 5 minutes."
  type        = number
  default     = 0
}

variable "oldest_message_alarm_seconds" {
  description = "Alarm when the oldest message of the queue is older than this for 15 minutes: Ore is falling behind or stopped."
  type        = number
  default     = 900
}
