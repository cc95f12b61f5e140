# Alerts, so that failures are seen: each notifies var.notification_channels (at least one).
#
#   masora run failed        Masora's "run failed" log line (services/masora/internal/run), any
#                            log type, counted by a log-based metric
#   masora freshness         no run that loaded new objects for a log type in freshness_hours
#   masora 5xx               the service answered 5xx (Postgres, BigQuery or GCS down, a bug)
#   scheduler failures       an attempt of the hourly trigger failed (after its own retries too)
#   migration job failed     an execution of the migrate job failed

locals {
  # Masora's logs are JSON lines with "severity" and "message" (libs/logjson); Cloud Logging
  # puts them in jsonPayload.
  masora_service_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.masora_service_name}\""
}

# Log-based counters of Masora's run log lines, by log type:
# - run_failed: one per failed run, `j.log.Error("run failed", ...)` with log_type, run_id,
#   trigger, error, objects_loaded and objects_failed;
# - loaded: one per successful run that found new objects, `j.log.Info("run succeeded", ...)`
#   with objects_new > 0.
locals {
  masora_log_metrics = {
    run_failed = {
      description = "Masora runs that failed (log line \"run failed\"), by log type."
      filter      = "jsonPayload.message=\"run failed\""
    }
    loaded = {
      description = "Masora runs that succeeded with new objects (log line \"run succeeded\", objects_new > 0), by log type."
      filter      = "jsonPayload.message=\"run succeeded\" AND jsonPayload.objects_new>0"
    }
  }
}

resource "google_logging_metric" "masora" {
  for_each    = local.masora_log_metrics
  name        = "${var.name_prefix}/masora_${each.key}"
  description = each.value.description
  filter      = "${local.masora_service_logs} AND ${each.value.filter}"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "log_type"
      value_type  = "STRING"
      description = "The run's log type."
    }
  }

  label_extractors = {
    log_type = "EXTRACT(jsonPayload.log_type)"
  }

  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "masora_run_failed" {
  display_name          = "${var.name_prefix}: Masora run failed"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  documentation {
    mime_type = "text/markdown"
    content   = "A Masora run failed; its objects stay unloaded and the next run retries them. Read the run's error: `masora status -log-type <log_type>` or `GET /runs?log_type=<log_type>`, and the service's logs (`jsonPayload.message=\"run failed\"`). See services/masora/README.md, \"Failures\"."
  }

  conditions {
    display_name = "run failed"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.masora["run_failed"].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.log_type"]
      }

      trigger {
        count = 1
      }
    }
  }
}

resource "google_monitoring_alert_policy" "masora_freshness" {
  display_name          = "${var.name_prefix}: no new data loaded for ${var.freshness_hours}h"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  documentation {
    mime_type = "text/markdown"
    content   = "No Masora run loaded new objects of this log type for ${var.freshness_hours} hours. Either producers stopped, Ore is not writing (check infra/aws's alarms and the DLQ), or Masora's runs fail (its own alert) or are not triggered (scheduler alert)."
  }

  conditions {
    display_name = "no run with new objects"
    condition_absent {
      filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.masora["loaded"].name}\""
      duration = "${var.freshness_hours * 3600}s"

      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.log_type"]
      }

      trigger {
        count = 1
      }
    }
  }
}

resource "google_monitoring_alert_policy" "masora_5xx" {
  display_name          = "${var.name_prefix}: Masora answers 5xx"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  documentation {
    mime_type = "text/markdown"
    content   = "Masora answered 5xx: 503 when Postgres, BigQuery or Cloud Storage is unreachable or over quota (the scheduler retries), 500 on a misconfiguration or a bug. The body of the answer and the service's logs say which; services/masora/README.md lists the statuses."
  }

  conditions {
    display_name = "5xx responses"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.masora_service_name}\" AND metric.type=\"run.googleapis.com/request_count\" AND metric.labels.response_code_class=\"5xx\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.masora_5xx_threshold
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  depends_on = [google_project_service.this]
}

# Cloud Scheduler logs every attempt; a failed one (non-2xx answer, deadline exceeded) at
# severity ERROR.
resource "google_monitoring_alert_policy" "scheduler_failed" {
  display_name          = "${var.name_prefix}: scheduler attempt failed"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  documentation {
    mime_type = "text/markdown"
    content   = "An attempt of the scheduler job ${google_cloud_scheduler_job.masora_run.name} to POST Masora's /run failed (see the log entry's status). 409 means a previous run still held the lock; other statuses are in Masora's alerts and logs. Every retry is safe."
  }

  conditions {
    display_name = "attempt failed"
    condition_matched_log {
      filter = "resource.type=\"cloud_scheduler_job\" AND resource.labels.job_id=\"${google_cloud_scheduler_job.masora_run.name}\" AND severity>=ERROR"
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "3600s"
    }
    auto_close = "86400s"
  }

  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "migration_failed" {
  display_name          = "${var.name_prefix}: migration job failed"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  documentation {
    mime_type = "text/markdown"
    content   = "An execution of ${google_cloud_run_v2_job.masora_migrate.name} failed (the migrations, or `masora doctor` run through the same job). Read the execution's logs; a migration that failed half way leaves the database dirty (`masora status`) and needs a person."
  }

  conditions {
    display_name = "failed executions"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${google_cloud_run_v2_job.masora_migrate.name}\" AND metric.type=\"run.googleapis.com/job/completed_execution_count\" AND metric.labels.result=\"failed\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }
}
