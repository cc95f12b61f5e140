// Package doctor checks a deployment of Ore from the inside, with Ore's own
// identity and configuration: the Google credentials resolve, Ore can create
// an object and recognize a repeated create as already there, and the queue
// has a long enough visibility timeout and a redrive policy to a DLQ. It is
// what `ore doctor` runs right after `terraform apply`.
package doctor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"time"

	"cloud.google.com/go/auth/credentials"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ore-masora/pipeline/libs/checks"
	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/parquetrow"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
	"github.com/ore-masora/pipeline/services/ore/internal/handler"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore"
)

// Queue is the part of the SQS client the checks use.
type Queue interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Options are what the checks look at.
type Options struct {
	// EmulatorHost is STORAGE_EMULATOR_HOST: when set, no Google
	// credentials are needed.
	EmulatorHost string
	// Store, Bucket and Prefix are where Ore writes.
	Store  objstore.Store
	Bucket string
	Prefix string
	// SQS and QueueURL are the queue Ore consumes; an empty QueueURL fails
	// the queue checks.
	SQS      Queue
	QueueURL string
	// FunctionTimeout and BatchingWindow are the Lambda function's timeout
	// and the event source mapping's batching window (poll mode: the
	// longest batch handling and ORE_POLL_BATCH_WINDOW).
	FunctionTimeout time.Duration
	BatchingWindow  time.Duration
	// Registry holds the log types whose probe parquet files are written.
	Registry *schema.Registry
	// WriterVersion is recorded in the probe files, as in data files.
	WriterVersion string
	// Now names the probe object; time.Now if nil.
	Now func() time.Time
}

// Run runs every check and returns one result per check, in order.
func Run(ctx context.Context, o Options) []checks.Result {
	if o.Now == nil {
		o.Now = time.Now
	}
	var rs []checks.Result
	rs = append(rs, credentialsCheck(ctx, o))
	rs = append(rs, probeChecks(ctx, o)...)
	rs = append(rs, probeFilesCheck(ctx, o))
	rs = append(rs, queueChecks(ctx, o)...)
	return rs
}

const (
	checkCredentials = "google credentials"
	checkProbe       = "create probe object"
	checkProbeAgain  = "create it again: already there"
	checkProbeFiles  = "probe parquet files"
	checkVisibility  = "queue visibility timeout"
	checkRedrive     = "queue redrive policy (DLQ)"
)

// credentialsCheck resolves Application Default Credentials (for Ore on
// AWS: the workload identity federation configuration file) and gets a
// token, which exchanges the AWS identity for a Google one.
func credentialsCheck(ctx context.Context, o Options) checks.Result {
	r := checks.Result{Check: checkCredentials}
	if o.EmulatorHost != "" {
		r.OK, r.Detail = true, "STORAGE_EMULATOR_HOST="+o.EmulatorHost+": the emulator needs none"
		return r
	}
	creds, err := credentials.DetectDefault(&credentials.DetectOptions{
		Scopes: []string{"https://www.googleapis.com/auth/devstorage.read_write"},
	})
	if err == nil {
		_, err = creds.Token(ctx)
	}
	if err != nil {
		r.Detail = err.Error()
		r.Fix = "set GOOGLE_APPLICATION_CREDENTIALS to the credential configuration of `terraform -chdir=infra/gcp output -raw ore_credential_config`, " +
			"and run with the AWS identity of Ore's Lambda role (the workload identity provider accepts no other); " +
			"a 403 from sts.googleapis.com means the provider's attribute condition or ore_lambda_role_name does not match that role"
		return r
	}
	r.OK, r.Detail = true, "Application Default Credentials resolve and give a token"
	return r
}

// probeChecks creates a probe object under PREFIX/_doctor/ and creates it
// again, which must be reported as already there (a 412, or a 403 with the
// object readable: storage.objects.get).
func probeChecks(ctx context.Context, o Options) []checks.Result {
	first := checks.Result{Check: checkProbe}
	again := checks.Result{Check: checkProbeAgain}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	now := o.Now().UTC()
	name := path.Join(o.Prefix, layout.ProbeDir, now.Format("20060102T150405Z")+"-"+hex.EncodeToString(rnd[:])+".txt")
	url := "gs://" + o.Bucket + "/" + name
	obj := objstore.Object{ContentType: "text/plain", Data: []byte("ore doctor probe, " + now.Format(time.RFC3339Nano) + "\n"), Key: "doctor:" + name}
	created, err := o.Store.Create(ctx, name, obj)
	switch {
	case err != nil:
		first.Detail = err.Error()
		first.Fix = "check GCS_BUCKET (the bucket must exist: terraform apply infra/gcp) and grant Ore's service account " +
			"roles/storage.objectCreator on it (infra/gcp ore_identity.tf)"
		again.Detail = "not tried: the probe could not be created"
		again.Fix = "fix " + checkProbe + " first"
		return []checks.Result{first, again}
	case !created:
		first.Detail = url + " was already there before the first create"
		first.Fix = "run ore doctor again (probe names are unique per run)"
		again.Detail = "not tried"
		again.Fix = first.Fix
		return []checks.Result{first, again}
	}
	first.OK, first.Detail = true, "created "+url
	created, err = o.Store.Create(ctx, name, obj)
	switch {
	case err != nil:
		again.Detail = err.Error()
		again.Fix = "grant Ore's service account storage.objects.get on objects under " + o.Prefix + "/ " +
			"(infra/gcp google_storage_bucket_iam_member.ore_object_get): GCS may answer 403 instead of 412 to a repeated create"
	case created:
		again.Detail = "the second create of " + url + " reported a new object: the does-not-exist precondition is not honoured"
		again.Fix = "point STORAGE_EMULATOR_HOST or the GCS endpoint at a server that honours ifGenerationMatch=0"
	default:
		again.OK, again.Detail = true, "the second create was reported as already there"
	}
	return []checks.Result{first, again}
}

// probeFilesCheck writes, for every schema version of every log type, a
// one-row parquet file at layout.ProbePath, as Ore writes data files: `masora
// doctor` creates an external table over each to prove that BigQuery reads
// what Ore writes. A file already there from an earlier run is fine.
func probeFilesCheck(ctx context.Context, o Options) checks.Result {
	r := checks.Result{Check: checkProbeFiles}
	gen, err := eventgen.New(o.Registry, eventgen.Options{Seed: 1, Start: o.Now()})
	if err != nil {
		r.Detail = err.Error()
		return r
	}
	var made, there int
	for _, name := range o.Registry.Names() {
		ev, err := gen.Event(name, 0)
		if err != nil {
			r.Detail = err.Error()
			return r
		}
		versions, err := o.Registry.Versions(name)
		if err != nil {
			r.Detail = err.Error()
			return r
		}
		for _, lt := range versions {
			data, err := probeFile(lt, ev.Body, o)
			if err != nil {
				r.Detail = fmt.Sprintf("%s: %v", lt, err)
				return r
			}
			p := layout.ProbePath(o.Prefix, lt.Name, lt.Version)
			created, err := o.Store.Create(ctx, p, objstore.Object{ContentType: handler.ContentTypeParquet, Data: data, Key: "doctor:" + p})
			if err != nil {
				r.Detail = fmt.Sprintf("create gs://%s/%s: %v", o.Bucket, p, err)
				r.Fix = "fix " + checkProbe + " first"
				return r
			}
			if created {
				made++
			} else {
				there++
			}
		}
	}
	r.OK, r.Detail = true, fmt.Sprintf("under gs://%s/%s: %d created, %d already there", o.Bucket, layout.LogTypePrefix(o.Prefix, layout.ProbeDir), made, there)
	return r
}

// probeFile returns a parquet file of one row: body decoded by lt.
func probeFile(lt *schema.LogType, body []byte, o Options) ([]byte, error) {
	ps, err := parquetrow.New(lt)
	if err != nil {
		return nil, err
	}
	ev, err := lt.Decode(body)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := parquetrow.NewWriter(&buf, ps, parquetrow.WriterOptions{WriterVersion: o.WriterVersion})
	if err := w.Write(ev, parquetrow.Lineage{MessageID: "ore-doctor", ReceivedAt: o.Now(), WriterVersion: o.WriterVersion}); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// queueChecks reads the queue's attributes: its visibility timeout must be
// at least 6 × the function timeout plus the batching window (AWS's
// guidance for an SQS event source), and it must redrive to a DLQ.
func queueChecks(ctx context.Context, o Options) []checks.Result {
	vis := checks.Result{Check: checkVisibility}
	red := checks.Result{Check: checkRedrive}
	if o.QueueURL == "" {
		for _, r := range []*checks.Result{&vis, &red} {
			r.Detail = "SQS_QUEUE_URL is not set"
			r.Fix = "set SQS_QUEUE_URL (and AWS_REGION) to the queue Ore consumes: `terraform -chdir=infra/aws output -raw queue_url`"
		}
		return []checks.Result{vis, red}
	}
	out, err := o.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(o.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout, types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		for _, r := range []*checks.Result{&vis, &red} {
			r.Detail = fmt.Sprintf("get attributes of %s: %v", o.QueueURL, err)
			r.Fix = "check SQS_QUEUE_URL, AWS_REGION (and SQS_ENDPOINT), and that Ore's role may sqs:GetQueueAttributes on the queue (infra/aws lambda.tf)"
		}
		return []checks.Result{vis, red}
	}
	want := 6*o.FunctionTimeout + o.BatchingWindow
	secs, err := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)])
	got := time.Duration(secs) * time.Second
	switch {
	case err != nil:
		vis.Detail = fmt.Sprintf("visibility timeout %q is not a number of seconds", out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)])
	case got < want:
		vis.Detail = fmt.Sprintf("%s, less than 6 × function timeout %s + batching window %s = %s", got, o.FunctionTimeout, o.BatchingWindow, want)
	default:
		vis.OK, vis.Detail = true, fmt.Sprintf("%s ≥ 6 × function timeout %s + batching window %s = %s", got, o.FunctionTimeout, o.BatchingWindow, want)
	}
	if !vis.OK {
		vis.Fix = fmt.Sprintf("set the queue's visibility timeout to at least %d s (infra/aws derives it from lambda_timeout_seconds and batching_window_seconds), "+
			"or set ORE_DOCTOR_FUNCTION_TIMEOUT and ORE_DOCTOR_BATCHING_WINDOW to the deployed values", int(want.Seconds()+0.999))
	}

	raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	var rp struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     any    `json:"maxReceiveCount"` // SQS returns a number or a string
	}
	switch err := json.Unmarshal([]byte(raw), &rp); {
	case raw == "":
		red.Detail = "the queue has no redrive policy: messages that keep failing are retried until they expire and are lost"
	case err != nil:
		red.Detail = fmt.Sprintf("redrive policy %q is not JSON: %v", raw, err)
	case rp.DeadLetterTargetArn == "":
		red.Detail = fmt.Sprintf("redrive policy %s names no deadLetterTargetArn", raw)
	default:
		red.OK, red.Detail = true, fmt.Sprintf("to %s after %v receives", rp.DeadLetterTargetArn, rp.MaxReceiveCount)
	}
	if !red.OK {
		red.Fix = "give the queue a redrive policy to a dead-letter queue (infra/aws sqs.tf: redrive_policy with deadLetterTargetArn and maxReceiveCount)"
	}
	return []checks.Result{vis, red}
}
