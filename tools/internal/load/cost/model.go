package cost

import (
	"fmt"
	"math"
)

// Figures are what a load run measured, per unit of work, on the local
// stack. tools/internal/load writes them as JSON (the field names below);
// the model scales them to a month of traffic.
type Figures struct {
	// Run says what the figures were measured with.
	Run RunInfo `json:"run"`

	// LogTypes is the number of log types in the traffic.
	LogTypes int `json:"log_types"`
	// BodyBytes is the mean SQS message body, bytes.
	BodyBytes float64 `json:"body_bytes"`
	// ParquetBytesPerEvent is what Ore wrote to GCS per event.
	ParquetBytesPerEvent float64 `json:"parquet_bytes_per_event"`
	// BigQueryBytesPerEvent is what BigQuery bills per event read through
	// an external parquet table: the columns the transform reads, sized by
	// BigQuery's data type sizes (STRING 2 + UTF-8 bytes, INT64, FLOAT64
	// and TIMESTAMP 8, BOOL 1, NULL 0).
	BigQueryBytesPerEvent float64 `json:"bigquery_bytes_per_event"`
	// PostgresBytesPerEvent is the row tables' size (heap, indexes, TOAST)
	// per row.
	PostgresBytesPerEvent float64 `json:"postgres_bytes_per_event"`

	// SQS requests per event, as the run made them (the producer's
	// SendMessageBatch, Ore's ReceiveMessage and DeleteMessageBatch).
	SQSSendPerEvent    float64 `json:"sqs_send_per_event"`
	SQSReceivePerEvent float64 `json:"sqs_receive_per_event"`
	SQSDeletePerEvent  float64 `json:"sqs_delete_per_event"`

	// Ore's time to handle a batch of n events is OreBatchFixedMs +
	// n*OreMsPerEvent (a least-squares fit over the run's batches).
	OreBatchFixedMs float64 `json:"ore_batch_fixed_ms"`
	OreMsPerEvent   float64 `json:"ore_ms_per_event"`
	// OreCPUMsPerBatch is Ore's CPU time (user+system) per batch, and
	// OreEventsPerBatch the mean batch, in the run.
	OreCPUMsPerBatch  float64 `json:"ore_cpu_ms_per_batch"`
	OreEventsPerBatch float64 `json:"ore_events_per_batch"`
	// OrePeakMiB is Ore's peak resident memory (VmHWM).
	OrePeakMiB float64 `json:"ore_peak_mib"`

	// GCSReadsPerObject is the Class B operations (object and metadata
	// reads) Masora made per object it loaded; GCSListsPerRun the object
	// listings per run and log type.
	GCSReadsPerObject float64 `json:"gcs_reads_per_object"`
	GCSListsPerRun    float64 `json:"gcs_lists_per_run"`
	// BigQueryTablesPerQuery is the external tables a transform query
	// references (one per schema version in the chunk).
	BigQueryTablesPerQuery float64 `json:"bigquery_tables_per_query"`

	// MasoraRunFixedSeconds is the wall time of a run of one log type that
	// finds nothing new; MasoraSecondsPerEvent the wall time per event of
	// the runs that loaded, without the time spent in BigQuery calls (the
	// emulator's, not representative of BigQuery).
	MasoraRunFixedSeconds float64 `json:"masora_run_fixed_seconds"`
	MasoraSecondsPerEvent float64 `json:"masora_seconds_per_event"`
	// MasoraCPUSecondsPerMillion is Masora's CPU time per million events.
	MasoraCPUSecondsPerMillion float64 `json:"masora_cpu_seconds_per_million"`
}

// RunInfo describes the load run the figures come from.
type RunInfo struct {
	Rate          float64 `json:"rate"`
	Seconds       float64 `json:"seconds"`
	Events        int     `json:"events"`
	WindowSeconds float64 `json:"window_seconds"`
	CadenceSecs   float64 `json:"cadence_seconds"`
	Date          string  `json:"date"`
}

// Deployment is what the model assumes of the deployment, beyond the
// figures: sizes from infra/ and behaviours of the managed services.
type Deployment struct {
	// LambdaMemoryGB is Ore's function memory (infra/aws lambda_memory_mb).
	LambdaMemoryGB float64
	// MaxBatch and MaxBatchBytes cap an invocation (batch_size, 6 MB).
	MaxBatch      float64
	MaxBatchBytes float64
	// Pollers is the long-polling receivers kept on the queue whatever the
	// traffic (the event source mapping's, or Pipes'), each making three
	// empty 20-second receives a minute when idle.
	Pollers float64
	// MasoraVCPU and MasoraGiB size a Masora instance (infra/gcp).
	MasoraVCPU, MasoraGiB float64
	// ChunkFiles is MASORA_CHUNK_FILES.
	ChunkFiles float64
	// BigQuerySecondsPerQuery is the time Masora waits on BigQuery per
	// transform query (table creation, query, reading the result).
	BigQuerySecondsPerQuery float64
	// CloudSQLVCPU and CloudSQLGB size the reporting database, always on.
	CloudSQLVCPU, CloudSQLGB float64
	// RetentionMonths is how many months of data are kept (GCS, S3 and
	// Postgres storage).
	RetentionMonths float64
	// PipesBatch is the batch size EventBridge Pipes receives from SQS.
	PipesBatch float64
}

// DefaultDeployment is infra/'s defaults and the assumptions stated in
// each field.
var DefaultDeployment = Deployment{
	LambdaMemoryGB: 1, MaxBatch: 10000, MaxBatchBytes: 6 << 20,
	Pollers:    5,
	MasoraVCPU: 1, MasoraGiB: 1, ChunkFiles: 100, BigQuerySecondsPerQuery: 2,
	CloudSQLVCPU: 1, CloudSQLGB: 3.75,
	RetentionMonths: 1,
	PipesBatch:      10,
}

// Scenario is one way of running the pipeline at a monthly volume.
type Scenario struct {
	// Events is the events a month.
	Events float64
	// CadenceSeconds is the time between Masora runs (3600 hourly).
	CadenceSeconds float64
	// WindowSeconds is Ore's batching window (the event source mapping's
	// maximum_batching_window_in_seconds).
	WindowSeconds float64
}

// MonthSeconds is the month the model prices: 30 days.
const MonthSeconds = 30 * 24 * 3600

// gib is the GB of the price lists (2^30 bytes).
const gib = 1 << 30

// Line is one item of a bill.
type Line struct {
	Item string
	// USD a month.
	USD float64
	// Detail says how it was counted.
	Detail string
}

// Bill is a month's cost of one scenario.
type Bill struct {
	Lines []Line
	// Events is the month's events, for PerMillion.
	Events float64
}

// Total is the sum of the lines, a month.
func (b Bill) Total() float64 {
	var t float64
	for _, l := range b.Lines {
		t += l.USD
	}
	return t
}

// PerMillion is USD per million events.
func (b Bill) PerMillion(usd float64) float64 {
	if b.Events == 0 {
		return 0
	}
	return usd / (b.Events / 1e6)
}

// Line returns the line called item, and whether there is one.
func (b Bill) Line(item string) (Line, bool) {
	for _, l := range b.Lines {
		if l.Item == item {
			return l, true
		}
	}
	return Line{}, false
}

// Quantities are the counts of a scenario a month, before prices.
type Quantities struct {
	Rate            float64 // events a second
	EventsPerBatch  float64
	Batches         float64
	Objects         float64 // parquet files
	ObjectsPerHour  float64 // per log type
	Runs            float64
	Queries         float64
	BilledQueryByte float64 // per query
	MasoraSeconds   float64
}

// Items of the bills.
const (
	ItemSQS       = "SQS requests"
	ItemLambda    = "Ore on Lambda"
	ItemGCSOps    = "GCS operations"
	ItemGCSStore  = "GCS storage"
	ItemBigQuery  = "BigQuery queries"
	ItemCloudRun  = "Masora on Cloud Run"
	ItemCloudSQL  = "Cloud SQL"
	ItemPipes     = "EventBridge Pipes"
	ItemFirehose  = "Firehose ingestion"
	ItemConvert   = "Firehose parquet conversion"
	ItemS3Puts    = "S3 PUTs"
	ItemS3Storage = "S3 storage"
)

// ParquetItems are the lines of the path from the queue to parquet files,
// which both designs have; the rest is the load into Postgres, which only
// ours does.
var ParquetItems = []string{ItemSQS, ItemLambda, ItemGCSOps, ItemGCSStore, ItemPipes, ItemFirehose, ItemConvert, ItemS3Puts, ItemS3Storage}

// Quantify counts a scenario's work a month.
func Quantify(f Figures, d Deployment, s Scenario) Quantities {
	var q Quantities
	q.Rate = s.Events / MonthSeconds
	// A batch is what arrives in one window, capped by the batch size and
	// the payload limit; at less than one event a window every event is a
	// batch of its own.
	q.EventsPerBatch = math.Max(1, math.Min(q.Rate*s.WindowSeconds, math.Min(d.MaxBatch, d.MaxBatchBytes/math.Max(f.BodyBytes, 1))))
	q.Batches = s.Events / q.EventsPerBatch
	q.Objects = q.Batches * distinctTypes(f.LogTypes, q.EventsPerBatch)
	q.ObjectsPerHour = q.Objects / float64(max(f.LogTypes, 1)) / (MonthSeconds / 3600)
	q.Runs = MonthSeconds / s.CadenceSeconds
	lt := float64(max(f.LogTypes, 1))
	perRun := q.Objects / q.Runs / lt // objects of one log type a run
	if perRun >= 1 {
		q.Queries = q.Runs * lt * math.Ceil(perRun/d.ChunkFiles)
	} else {
		q.Queries = q.Runs * lt * perRun // some runs find nothing
	}
	if q.Queries > 0 {
		minimum := Prices[BigQueryMinBytes].USD * math.Max(1, f.BigQueryTablesPerQuery)
		q.BilledQueryByte = math.Max(s.Events*f.BigQueryBytesPerEvent/q.Queries, minimum)
	}
	q.MasoraSeconds = q.Runs*lt*f.MasoraRunFixedSeconds + q.Queries*d.BigQuerySecondsPerQuery + s.Events*f.MasoraSecondsPerEvent
	return q
}

// distinctTypes is the expected number of log types among n events drawn
// evenly from types.
func distinctTypes(types int, n float64) float64 {
	t := float64(max(types, 1))
	return t * (1 - math.Pow(1-1/t, n))
}

// idleReceives is the empty receives the pollers make a month.
func idleReceives(d Deployment) float64 { return d.Pollers * 3 * MonthSeconds / 60 }

// Ours is the month's bill of Ore + Masora.
func Ours(f Figures, d Deployment, s Scenario) Bill {
	q := Quantify(f, d, s)
	p := func(k string) float64 { return Prices[k].USD }
	sqsReq := s.Events*(f.SQSSendPerEvent+f.SQSReceivePerEvent+f.SQSDeletePerEvent) + idleReceives(d)
	gbSeconds := q.Batches * (f.OreBatchFixedMs + f.OreMsPerEvent*q.EventsPerBatch) / 1000 * d.LambdaMemoryGB
	lt := float64(max(f.LogTypes, 1))
	classA := q.Objects + q.Runs*lt*f.GCSListsPerRun
	classB := q.Objects * (f.GCSReadsPerObject + 1) // + BigQuery's read of each object
	storedGB := s.Events * f.ParquetBytesPerEvent * d.RetentionMonths / gib
	pgGB := s.Events * f.PostgresBytesPerEvent * d.RetentionMonths / gib
	const hours = MonthSeconds / 3600
	return Bill{Events: s.Events, Lines: []Line{
		{ItemSQS, sqsReq * p(SQSRequest), fmt.Sprintf("%.3g requests (send %.3f, receive %.3f, delete %.3f per event, %.3g idle receives)",
			sqsReq, f.SQSSendPerEvent, f.SQSReceivePerEvent, f.SQSDeletePerEvent, idleReceives(d))},
		{ItemLambda, q.Batches*p(LambdaRequest) + gbSeconds*p(LambdaGBSecondArm), fmt.Sprintf("%.3g invocations of %.0f events, %.3g GB-s", q.Batches, q.EventsPerBatch, gbSeconds)},
		{ItemGCSOps, classA*p(GCSClassA) + classB*p(GCSClassB), fmt.Sprintf("%.3g files (%.0f an hour per log type), %.3g class A, %.3g class B", q.Objects, q.ObjectsPerHour, classA, classB)},
		{ItemGCSStore, storedGB * p(GCSStorageGBMonth), fmt.Sprintf("%.3g GB kept %.0f month(s)", storedGB, d.RetentionMonths)},
		{ItemBigQuery, q.Queries * q.BilledQueryByte / (1 << 40) * p(BigQueryTiB), fmt.Sprintf("%.3g queries, %.3g MB billed each", q.Queries, q.BilledQueryByte/(1<<20))},
		{ItemCloudRun, q.MasoraSeconds*(d.MasoraVCPU*p(CloudRunVCPUSecond)+d.MasoraGiB*p(CloudRunGiBSecond)) + q.Runs*p(CloudRunRequest),
			fmt.Sprintf("%.3g runs, %.3g instance-seconds", q.Runs, q.MasoraSeconds)},
		{ItemCloudSQL, hours*(d.CloudSQLVCPU*p(CloudSQLVCPUHour)+d.CloudSQLGB*p(CloudSQLGBHour)) + pgGB*p(CloudSQLStorageGB),
			fmt.Sprintf("%.0f vCPU, %.2f GB always on, %.3g GB of rows", d.CloudSQLVCPU, d.CloudSQLGB, pgGB)},
	}}
}

// Managed is the month's bill of SQS → EventBridge Pipes → Firehose
// (parquet conversion) → S3 with a Firehose buffer interval of
// bufferSeconds (60 to 900), one stream per log type. It ends at parquet
// files in S3: nothing is loaded into a database.
func Managed(f Figures, d Deployment, s Scenario, bufferSeconds float64) Bill {
	p := func(k string) float64 { return Prices[k].USD }
	sqsReq := s.Events*f.SQSSendPerEvent + 2*s.Events/d.PipesBatch + idleReceives(d)
	pipes := s.Events * math.Ceil(f.BodyBytes/(64<<10))
	billedGB := s.Events * math.Ceil(f.BodyBytes/5120) * 5120 / gib
	lt := float64(max(f.LogTypes, 1))
	const fileBytes = 128 << 20 // Firehose's largest buffer size
	files := lt * math.Max(MonthSeconds/bufferSeconds, s.Events*f.ParquetBytesPerEvent/lt/fileBytes)
	storedGB := s.Events * f.ParquetBytesPerEvent * d.RetentionMonths / gib
	return Bill{Events: s.Events, Lines: []Line{
		{ItemSQS, sqsReq * p(SQSRequest), fmt.Sprintf("%.3g requests (send as ours, Pipes receives and deletes in batches of %.0f)", sqsReq, d.PipesBatch)},
		{ItemPipes, pipes * p(PipesRequest), fmt.Sprintf("%.3g requests (one per 64 KB of each event)", pipes)},
		{ItemFirehose, billedGB * p(FirehoseIngestGB), fmt.Sprintf("%.3g GB billed: each %.0f-byte event counted as %.0f KB", billedGB, f.BodyBytes, math.Ceil(f.BodyBytes/5120)*5)},
		{ItemConvert, billedGB * p(FirehoseConversionGB), fmt.Sprintf("%.3g GB, the same 5 KB increments", billedGB)},
		{ItemS3Puts, files * p(S3Put), fmt.Sprintf("%.3g files (buffer %.0f s)", files, bufferSeconds)},
		{ItemS3Storage, storedGB * p(S3StorageGBMonth), fmt.Sprintf("%.3g GB kept %.0f month(s)", storedGB, d.RetentionMonths)},
	}}
}

// Subtotal sums the lines of b named in items.
func Subtotal(b Bill, items []string) float64 {
	var t float64
	for _, it := range items {
		if l, ok := b.Line(it); ok {
			t += l.USD
		}
	}
	return t
}
