// Package cost is the pipeline's cost model: from the figures a load run
// measured (Figures, written by tools/internal/load as JSON), it computes
// what a month of traffic costs at list prices, per million events, for
// Ore + Masora at a given Masora cadence and Ore batching window, side by
// side with the managed alternative (SQS → EventBridge Pipes → Data
// Firehose with parquet conversion → S3), computed the same way.
//
// Every price lives in one table (Prices) with the page it was read from,
// the date it was read and whether the figure is an assumption because the
// page could not be read. Free tiers, taxes, data transfer between clouds
// and regional differences are left out (us-east-1 / us-central1 list
// prices).
package cost

// Quality says how sure a price is.
type Quality string

// The qualities of a price.
const (
	// Official: read on the provider's own pricing page.
	Official Quality = "official"
	// Secondary: the provider's page did not show the figure in the copy
	// that could be read; the figure is from a dated third-party page
	// quoting it. The billing rule may still be official.
	Secondary Quality = "secondary"
	// Assumption: no page with the figure could be read; the value is the
	// list price as remembered and must be checked before it is relied on.
	Assumption Quality = "assumption"
)

// Price is one list price.
type Price struct {
	// USD per Unit.
	USD  float64
	Unit string
	// Source is the page the figure (or, for assumptions, the rule) comes
	// from; Read is the date it was read (through the search tool's stored
	// copy of the page; the copy's own date is unknown).
	Source  string
	Read    string
	Quality Quality
	// Note says how the provider counts the unit.
	Note string
}

// readOn is the date the pricing pages below were read.
const readOn = "2026-11-30"

// The keys of Prices.
const (
	SQSRequest           = "sqs_request"
	LambdaRequest        = "lambda_request"
	LambdaGBSecondArm    = "lambda_gb_second_arm64"
	PipesRequest         = "pipes_request"
	FirehoseIngestGB     = "firehose_ingest_gb"
	FirehoseConversionGB = "firehose_conversion_gb"
	S3Put                = "s3_put"
	S3StorageGBMonth     = "s3_storage_gb_month"
	GCSClassA            = "gcs_class_a"
	GCSClassB            = "gcs_class_b"
	GCSStorageGBMonth    = "gcs_storage_gb_month"
	BigQueryTiB          = "bigquery_on_demand_tib"
	BigQueryMinBytes     = "bigquery_min_bytes"
	CloudRunVCPUSecond   = "cloud_run_vcpu_second"
	CloudRunGiBSecond    = "cloud_run_gib_second"
	CloudRunRequest      = "cloud_run_request"
	CloudSQLVCPUHour     = "cloud_sql_vcpu_hour"
	CloudSQLGBHour       = "cloud_sql_gb_hour"
	CloudSQLStorageGB    = "cloud_sql_storage_gb_month"
)

// Prices is the one table of list prices the model uses.
var Prices = map[string]Price{
	SQSRequest: {USD: 0.40e-6, Unit: "request", Quality: Secondary, Read: readOn,
		Source: "https://aws.amazon.com/sqs/pricing/ (figure from https://cloudburn.io/blog/amazon-sqs-pricing, March 2026)",
		Note:   "standard queue, first 100 billion requests a month; every 64 KB chunk of a payload is one request; empty receives count"},
	LambdaRequest: {USD: 0.20e-6, Unit: "invocation", Quality: Secondary, Read: readOn,
		Source: "https://aws.amazon.com/lambda/pricing/ (figure from https://cloudchipr.com/blog/aws-lambda-pricing)"},
	LambdaGBSecondArm: {USD: 0.0000133334, Unit: "GB-second", Quality: Secondary, Read: readOn,
		Source: "https://aws.amazon.com/lambda/pricing/ (figure from https://cloudchipr.com/blog/aws-lambda-pricing)",
		Note:   "arm64, first 7.5 billion GB-seconds a month; duration rounded up to 1 ms"},
	PipesRequest: {USD: 0.40e-6, Unit: "request", Quality: Secondary, Read: readOn,
		Source: "https://aws.amazon.com/eventbridge/pricing/ (figure from https://cloudburn.io/blog/amazon-eventbridge-pricing, March 2026)",
		Note:   "per request after filtering, every 64 KB chunk of an event one request; counted here per event"},
	FirehoseIngestGB: {USD: 0.029, Unit: "GB", Quality: Assumption, Read: readOn,
		Source: "https://aws.amazon.com/kinesis/data-firehose/pricing/ (billing rule read there; the figure was not in the copy)",
		Note:   "Direct PUT, first 500 TB a month; each record rounded up to the next 5 KB"},
	FirehoseConversionGB: {USD: 0.018, Unit: "GB", Quality: Assumption, Read: readOn,
		Source: "https://aws.amazon.com/kinesis/data-firehose/pricing/ (billing rule read there; the figure was not in the copy)",
		Note:   "JSON to parquet, on the ingested GB in 5 KB increments"},
	S3Put: {USD: 0.005e-3, Unit: "PUT", Quality: Assumption, Read: readOn,
		Source: "https://aws.amazon.com/s3/pricing/ (not read)"},
	S3StorageGBMonth: {USD: 0.023, Unit: "GB-month", Quality: Assumption, Read: readOn,
		Source: "https://aws.amazon.com/s3/pricing/ (not read)", Note: "S3 Standard, first 50 TB"},
	GCSClassA: {USD: 0.005e-3, Unit: "operation", Quality: Official, Read: readOn,
		Source: "https://cloud.google.com/storage/pricing-examples", Note: "object inserts, object listings"},
	GCSClassB: {USD: 0.0004e-3, Unit: "operation", Quality: Official, Read: readOn,
		Source: "https://cloud.google.com/storage/pricing-examples", Note: "object gets, metadata reads"},
	GCSStorageGBMonth: {USD: 0.020, Unit: "GB-month", Quality: Official, Read: readOn,
		Source: "https://cloud.google.com/storage/pricing-examples", Note: "Standard storage, us-east1"},
	BigQueryTiB: {USD: 6.25, Unit: "TiB processed", Quality: Secondary, Read: readOn,
		Source: "https://cloud.google.com/bigquery/pricing (figure from https://adriennevermorel.com/notes/bigquery-on-demand-billing-mechanics/)",
		Note:   "on-demand; external parquet tables bill the columns read, sized by BigQuery data types (https://cloud.google.com/bigquery/docs/estimate-costs)"},
	BigQueryMinBytes: {USD: 10 << 20, Unit: "bytes billed at least, per query and per table referenced", Quality: Secondary, Read: readOn,
		Source: "https://cloud.google.com/bigquery/pricing (rule from https://adriennevermorel.com/notes/bigquery-on-demand-billing-mechanics/)",
		Note:   "not a price: the 10 MB minimum billed per table referenced and per query"},
	CloudRunVCPUSecond: {USD: 0.000024, Unit: "vCPU-second", Quality: Official, Read: readOn,
		Source: "https://cloud.google.com/run/pricing", Note: "Tier 1 region, CPU allocated during requests only"},
	CloudRunGiBSecond: {USD: 0.0000025, Unit: "GiB-second", Quality: Assumption, Read: readOn,
		Source: "https://cloud.google.com/run/pricing (the copy was cut before the memory figure)"},
	CloudRunRequest: {USD: 0.40e-6, Unit: "request", Quality: Assumption, Read: readOn,
		Source: "https://cloud.google.com/run/pricing (the copy was cut before the request figure)"},
	CloudSQLVCPUHour: {USD: 0.0413, Unit: "vCPU-hour", Quality: Secondary, Read: readOn,
		Source: "https://cloud.google.com/sql/pricing (figure from https://www.usage.ai/blogs/gcp/cloud-sql/pricing/, May 2026)",
		Note:   "Enterprise edition, us-central1"},
	CloudSQLGBHour: {USD: 0.007, Unit: "GB-hour", Quality: Secondary, Read: readOn,
		Source: "https://cloud.google.com/sql/pricing (figure from https://www.usage.ai/blogs/gcp/cloud-sql/pricing/, May 2026)"},
	CloudSQLStorageGB: {USD: 0.17, Unit: "GB-month", Quality: Assumption, Read: readOn,
		Source: "https://cloud.google.com/sql/pricing (not read)", Note: "SSD storage"},
}
