package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
)

// command runs an operator command in-process and returns its exit code,
// stdout and stderr.
func command(t *testing.T, main func(ctx context.Context, args []string, e cmdIO) int, getenv func(string) string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := main(t.Context(), args, cmdIO{Getenv: getenv, Stdout: &stdout, Stderr: &stderr})
	return code, stdout.String(), stderr.String()
}

// setStackEnv points the process environment, which the SDKs read, at the
// stack, with Ore's variables for a queue and a bucket.
func setStackEnv(t *testing.T, env stacktest.Env, queueURL, bucket string) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": env.AWSAccessKeyID, "AWS_SECRET_ACCESS_KEY": env.AWSSecretAccessKey, "AWS_REGION": env.AWSRegion,
		"AWS_EC2_METADATA_DISABLED": "true", "SQS_ENDPOINT": env.SQSEndpoint, "SQS_QUEUE_URL": queueURL,
		"GCS_BUCKET": bucket, "GCS_PREFIX": "logs", "STORAGE_EMULATOR_HOST": env.StorageEmulatorHost, "LOG_LEVEL": "info",
	} {
		t.Setenv(k, v)
	}
}

// TestOperatorCommandsOnStack runs ore replay (dry run, then for real) and
// ore redrive as an operator would, configured by the environment only.
func TestOperatorCommandsOnStack(t *testing.T) {
	env := stacktest.Load(t)
	bucket := stacktest.NewBucket(t, env)
	queueURL, dlqURL := stacktest.NewQueue(t, env)
	setStackEnv(t, env, queueURL, bucket)
	gcs := stacktest.StorageClient(t, env)

	hour := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	a := quarantine.Record{MessageID: "m1", LogType: "page_view", Reason: `unknown log type "page_view"`, ReceivedAt: hour, Body: `{"x":1}`}
	b := quarantine.Record{MessageID: "m2", LogType: "page_view", Reason: `unknown log type "page_view"`, ReceivedAt: hour, Body: `{"x":2}`}
	for _, recs := range [][]quarantine.Record{{a, b}, {a}} {
		var buf bytes.Buffer
		var ids []string
		for _, r := range recs {
			if err := quarantine.NewEncoder(&buf).Encode(&r); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.MessageID)
		}
		w := gcs.Bucket(bucket).Object(layout.QuarantinePath("logs", hour, layout.Name(ids))).NewWriter(t.Context())
		w.Write(buf.Bytes())
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	where := fmt.Sprintf("of gs://%s/logs/_quarantine/ hours 2026-11-26T10:00:00Z to 2026-11-26T10:00:00Z: ", bucket)
	args := []string{"-from", "2026-11-26T10:00:00Z", "-to", "2026-11-26T10:59:59Z", "-log-type", "page_view", "-reason", "unknown log type"}

	code, out, errOut := command(t, replayMain, os.Getenv, append(args, "-dry-run")...)
	if want := "replay (dry run, nothing sent) " + where + "2 objects read, 3 records, 3 matched, 2 unique message ids (1 duplicates skipped), 0 sent, 0 failed\n"; code != 0 || out != want {
		t.Fatalf("dry run: exit %d, stdout %q, want 0 and %q; stderr:\n%s", code, out, want, errOut)
	}
	if !strings.Contains(errOut, "replay (dry run): finished: 2 done, 0 failed") {
		t.Errorf("dry run progress on stderr: %q", errOut)
	}
	if got := stacktest.ReceiveAll(t, env, queueURL); len(got) != 0 {
		t.Fatalf("the dry run sent %d messages", len(got))
	}

	code, out, errOut = command(t, replayMain, os.Getenv, args...)
	if want := "replay " + where + "2 objects read, 3 records, 3 matched, 2 unique message ids (1 duplicates skipped), 2 sent, 0 failed\n"; code != 0 || out != want {
		t.Fatalf("replay: exit %d, stdout %q, want 0 and %q; stderr:\n%s", code, out, want, errOut)
	}
	if got := stacktest.ReceiveAll(t, env, queueURL); len(got) != 2 {
		t.Fatalf("the replay sent %d messages, want 2", len(got))
	}

	client := stacktest.SQSClient(t, env)
	for i := range 3 {
		if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(dlqURL), MessageBody: aws.String(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut = command(t, redriveMain, os.Getenv, "-idle", "1s")
	if want := fmt.Sprintf("redrive to %s: 3 moved from %s by receive, 0 failed (left in the DLQ), 0 sent but not deleted (will be sent again)\n", queueURL, dlqURL); code != 0 || out != want {
		t.Fatalf("redrive: exit %d, stdout %q, want 0 and %q; stderr:\n%s", code, out, want, errOut)
	}
	if !strings.Contains(errOut, "does not offer message move tasks") || !strings.Contains(errOut, "redrive: finished: 3/3 done, 0 failed") {
		t.Errorf("redrive stderr does not tell of the fallback and progress:\n%s", errOut)
	}
	if got := stacktest.ReceiveAll(t, env, queueURL); len(got) != 3 {
		t.Fatalf("the redrive moved %d messages, want 3", len(got))
	}
}

// TestOperatorCommandErrors: bad flags and bad configuration stop the
// commands with an error that says what to fix.
func TestOperatorCommandErrors(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	closed := "http://" + freePort(t) // nothing listens there
	good := map[string]string{"GCS_BUCKET": "b", "AWS_REGION": "us-east-1", "SQS_ENDPOINT": closed, "SQS_QUEUE_URL": closed + "/000000000000/q"}
	with := func(kv ...string) func(string) string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, tc := range []struct {
		name   string
		main   func(ctx context.Context, args []string, e cmdIO) int
		getenv func(string) string
		args   []string
		code   int
		wantIn string // in stderr
	}{
		{"ReplayHelp", replayMain, with(), []string{"-help"}, 0, "Usage: ore replay -from TIME"},
		{"RedriveHelp", redriveMain, with(), []string{"-h"}, 0, "sqs:StartMessageMoveTask"},
		{"ReplayNoFrom", replayMain, with(), nil, 2, "ore replay: -from is required (see ore replay -help)"},
		{"ReplayBadTime", replayMain, with(), []string{"-from", "yesterday"}, 2, `-from "yesterday": want an RFC 3339 time like 2026-11-26T10:00:00Z`},
		{"ReplayBadRegexp", replayMain, with(), []string{"-from", "2026-11-26T10:00:00Z", "-reason", "(unclosed"}, 2, `-reason "(unclosed" is not a regular expression`},
		{"ReplayReversed", replayMain, with(), []string{"-from", "2026-11-26T10:00:00Z", "-to", "2026-11-26T09:00:00Z"}, 2, "the hour range ends"},
		{"ReplayExtraArgs", replayMain, with(), []string{"-from", "2026-11-26T10:00:00Z", "now"}, 2, `unexpected arguments ["now"]`},
		{"RedriveBadMethod", redriveMain, with(), []string{"-method", "teleport"}, 2, `method "teleport": want auto, move-task or receive`},
		{"ReplayNoQueue", replayMain, with("SQS_QUEUE_URL", ""), []string{"-from", "2026-11-26T10:00:00Z"}, 1,
			"SQS_QUEUE_URL is required for ore replay: set it to the queue the quarantined messages go back to"},
		{"RedriveNoQueue", redriveMain, with("SQS_QUEUE_URL", "", "GCS_BUCKET", ""), nil, 1,
			"SQS_QUEUE_URL is required for ore redrive: set it to the queue whose dead-letter queue is moved back into it"},
		{"ReplayUnreachable", replayMain, with(), []string{"-from", "2026-11-26T10:00:00Z"}, 1,
			fmt.Sprintf("ore replay: queue %s/000000000000/q does not answer (check SQS_QUEUE_URL, AWS_REGION, SQS_ENDPOINT=%q and the credentials)", closed, closed)},
		{"RedriveUnreachable", redriveMain, with(), nil, 1, "connect: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := command(t, tc.main, tc.getenv, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.wantIn) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and stderr containing %q", code, errOut, tc.code, tc.wantIn)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}
