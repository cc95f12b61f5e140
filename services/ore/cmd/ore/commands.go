package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"time"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/logjson"
	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/progress"
	"github.com/ore-masora/pipeline/services/ore/internal/config"
	"github.com/ore-masora/pipeline/services/ore/internal/poller"
	"github.com/ore-masora/pipeline/services/ore/internal/redrive"
	"github.com/ore-masora/pipeline/services/ore/internal/replay"
)

// Exit codes of the operator commands.
const (
	exitOK     = 0
	exitFailed = 1 // an error, or messages that were not moved
	exitUsage  = 2
)

// cmdIO is what an operator command reads and writes: the environment (the
// SDKs read the process environment themselves), the counts (Stdout) and
// the progress, logs and errors (Stderr).
type cmdIO struct {
	Getenv         func(string) string
	Stdout, Stderr io.Writer
}

const replayHelp = `Usage: ore replay -from TIME [-to TIME] [-log-type NAME] [-reason REGEXP] [-dry-run]

Sends quarantined messages back to the queue (SQS_QUEUE_URL), once the cause of
their quarantine is fixed: it reads the quarantine objects of the hour folders
from -from to -to (RFC 3339, both hours included; the hours, UTC, in which Ore
received the messages), keeps the records that match -log-type and -reason, and
sends each message id once, with its original body and its log_type attribute.
Bodies are sent as they are: one that is still bad is quarantined again.
Repeating a replay is safe: Masora loads each event_id once.

Prints progress on stderr and the counts on stdout; exit status 1 if a message
could not be sent. Needs storage.objects.list and storage.objects.get on the
bucket, and sqs:GetQueueAttributes and sqs:SendMessage on the queue.

Flags:
`

const redriveHelp = `Usage: ore redrive [-dlq-url URL] [-method auto|move-task|receive] [-max N] [-idle 5s]

Moves the messages of the dead-letter queue back to the queue (SQS_QUEUE_URL),
once the cause of their failures is gone. The dead-letter queue is the one the
queue's redrive policy names, unless -dlq-url says otherwise.

With -method auto (the default) it starts an SQS message move task and follows
it until it ends; where the endpoint has no move tasks (the local stack's SQS
emulator), or with -max, it receives each message, sends it to the queue with
its body and attributes, and deletes it from the dead-letter queue after the
send succeeded. That fallback is at least once: a redrive stopped between a
send and its delete sends the message again next time; event_id makes the
copy harmless downstream.

Prints progress on stderr and the counts on stdout; exit status 1 if a message
could not be moved. Needs sqs:GetQueueAttributes on both queues, sqs:GetQueueUrl,
sqs:StartMessageMoveTask and sqs:ListMessageMoveTasks, or for the fallback
sqs:ReceiveMessage and sqs:DeleteMessage on the dead-letter queue, and
sqs:SendMessage on the queue.

Flags:
`

// newFlags returns a flag set for an operator command whose -help prints
// help, the flags and Ore's environment.
func newFlags(name, help string, e cmdIO) *flag.FlagSet {
	fs := flag.NewFlagSet("ore "+name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nEnvironment (as for Ore):\n%s", config.Usage())
	}
	return fs
}

// parse parses args; it returns an exit code when the command should stop.
func parse(fs *flag.FlagSet, args []string) (int, bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK, true
	case err != nil:
		return exitUsage, true
	case fs.NArg() > 0:
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return exitUsage, true
	}
	return 0, false
}

// fail prints err and returns the failure exit code.
func fail(e cmdIO, name string, err error) int {
	fmt.Fprintf(e.Stderr, "ore %s: %v\n", name, err)
	return exitFailed
}

// replayMain is `ore replay`.
func replayMain(ctx context.Context, args []string, e cmdIO) int {
	fs := newFlags("replay", replayHelp, e)
	from := fs.String("from", "", "first hour folder, RFC 3339, e.g. 2026-11-26T10:00:00Z (required)")
	to := fs.String("to", "", "last hour folder, RFC 3339 (default: the current hour)")
	logType := fs.String("log-type", "", "replay only messages of this log type (default: all)")
	reason := fs.String("reason", "", "replay only messages whose reason this regular expression (Go RE2 syntax) matches, anywhere in the reason; a plain word matches as a substring (default: all)")
	dryRun := fs.Bool("dry-run", false, "read and count, send nothing")
	if code, stop := parse(fs, args); stop {
		return code
	}
	f := replay.Filter{LogType: *logType, To: time.Now()}
	var err error
	if f.From, err = flagTime("-from", *from); err != nil {
		return usageError(fs, err)
	}
	if *to != "" {
		if f.To, err = flagTime("-to", *to); err != nil {
			return usageError(fs, err)
		}
	}
	if *reason != "" {
		if f.Reason, err = regexp.Compile(*reason); err != nil {
			return usageError(fs, fmt.Errorf("-reason %q is not a regular expression: %w", *reason, err))
		}
	}
	if err := f.Check(); err != nil {
		return usageError(fs, err)
	}

	cfg, err := config.LoadFor(e.Getenv, config.CommandReplay)
	if err != nil {
		return fail(e, "replay", err)
	}
	client, err := sqsClient(ctx, cfg)
	if err != nil {
		return fail(e, "replay", err)
	}
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return fail(e, "replay", fmt.Errorf("create GCS client: %w", err))
	}
	defer gcs.Close()
	prod, err := producer.New(client, producer.Options{QueueURL: cfg.SQSQueueURL})
	if err != nil {
		return fail(e, "replay", err)
	}
	counts, err := replay.Run(ctx, replay.Options{
		Bucket:   gcs.Bucket(cfg.GCSBucket),
		Prefix:   cfg.GCSPrefix,
		Producer: prod,
		DryRun:   *dryRun,
		Progress: progressOptions(e.Stderr),
		Logger:   logjson.New(e.Stderr, cfg.LogLevel),
	}, f)
	what := "replay"
	if *dryRun {
		what = "replay (dry run, nothing sent)"
	}
	fmt.Fprintf(e.Stdout, "%s of gs://%s/%s hours %s to %s: %s\n", what, cfg.GCSBucket, layout.LogTypePrefix(cfg.GCSPrefix, layout.QuarantineDir),
		layout.Hour(f.From).Format(time.RFC3339), layout.Hour(f.To).Format(time.RFC3339), counts)
	if err != nil {
		return fail(e, "replay", err)
	}
	if counts.Failed > 0 {
		return exitFailed
	}
	return exitOK
}

// redriveMain is `ore redrive`.
func redriveMain(ctx context.Context, args []string, e cmdIO) int {
	fs := newFlags("redrive", redriveHelp, e)
	dlqURL := fs.String("dlq-url", "", "the dead-letter queue (default: the one the queue's redrive policy names)")
	method := fs.String("method", string(redrive.MethodAuto), "auto, move-task or receive")
	maxN := fs.Int("max", 0, "move at most this many messages (receive method); 0 moves all")
	idle := fs.Duration("idle", redrive.DefaultIdleWait, "receive method: stop when the dead-letter queue reads empty this long (whole seconds, 1s to 20s)")
	if code, stop := parse(fs, args); stop {
		return code
	}
	cfg, err := config.LoadFor(e.Getenv, config.CommandRedrive)
	if err != nil {
		return fail(e, "redrive", err)
	}
	o := redrive.Options{
		QueueURL: cfg.SQSQueueURL,
		DLQURL:   *dlqURL,
		Method:   redrive.Method(*method),
		Max:      *maxN,
		IdleWait: *idle,
		Progress: progressOptions(e.Stderr),
		Logger:   logjson.New(e.Stderr, cfg.LogLevel),
	}
	if err := o.Check(); err != nil {
		return usageError(fs, err)
	}
	if o.SQS, err = sqsClient(ctx, cfg); err != nil {
		return fail(e, "redrive", err)
	}
	counts, err := redrive.Run(ctx, o)
	if counts.Method != "" {
		fmt.Fprintf(e.Stdout, "redrive to %s: %s\n", cfg.SQSQueueURL, counts)
	}
	if err != nil {
		return fail(e, "redrive", err)
	}
	if counts.Failed > 0 || counts.NotDeleted > 0 {
		return exitFailed
	}
	return exitOK
}

// sqsClient returns the SQS client of the configuration, after checking
// that the queue answers, so that a wrong URL, region or endpoint fails
// first and clearly.
func sqsClient(ctx context.Context, cfg config.Config) (*sqs.Client, error) {
	client, err := poller.NewSQSClient(ctx, cfg.AWSRegion, cfg.SQSEndpoint)
	if err != nil {
		return nil, err
	}
	_, err = client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(cfg.SQSQueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return nil, fmt.Errorf("queue %s does not answer (check SQS_QUEUE_URL, AWS_REGION, SQS_ENDPOINT=%q and the credentials): %w", cfg.SQSQueueURL, cfg.SQSEndpoint, err)
	}
	return client, nil
}

// progressOptions shows progress on w: a line every few seconds, or one
// updating line on a terminal.
func progressOptions(w io.Writer) progress.Options {
	return progress.Options{Out: w, Style: progress.StyleFor(w)}
}

func usageError(fs *flag.FlagSet, err error) int {
	fmt.Fprintf(fs.Output(), "%s: %v (see %s -help)\n", fs.Name(), err, fs.Name())
	return exitUsage
}

// flagTime parses the RFC 3339 time of a flag.
func flagTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("%s is required", name)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time like 2026-11-26T10:00:00Z", name, s)
	}
	return t, nil
}
