package localstack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ore-masora/pipeline/libs/testkit/composetest"
	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
)

// TestComposeMatchesLocalStack checks that docker-compose.yml creates the
// same queue, DLQ, bucket, project and dataset as this local stack, so the
// demo, the docs and either stack agree, and that the scheduler calls the
// port Masora listens on.
func TestComposeMatchesLocalStack(t *testing.T) {
	f := composetest.Load(t)
	ore, masora := f.Service(t, "ore"), f.Service(t, "masora")

	if got := ore.Environment["SQS_QUEUE_URL"]; !strings.HasSuffix(got, "/"+stackenv.QueueName) {
		t.Errorf("compose's ore consumes %s, want the queue %s", got, stackenv.QueueName)
	}
	for svc, env := range map[string]map[string]string{"ore": ore.Environment, "masora": masora.Environment} {
		if env["GCS_BUCKET"] != stackenv.Bucket {
			t.Errorf("compose's %s uses bucket %q, want %q", svc, env["GCS_BUCKET"], stackenv.Bucket)
		}
	}
	if masora.Environment["BIGQUERY_PROJECT"] != stackenv.Project || masora.Environment["BIGQUERY_DATASET"] != stackenv.Dataset {
		t.Errorf("compose's masora uses %s.%s, want %s.%s", masora.Environment["BIGQUERY_PROJECT"], masora.Environment["BIGQUERY_DATASET"], stackenv.Project, stackenv.Dataset)
	}
	bq := f.Service(t, "bigquery")
	for _, want := range []string{"--project=" + stackenv.Project, "--dataset=" + stackenv.Dataset} {
		if !slices.Contains(bq.Command, want) {
			t.Errorf("compose's bigquery command %v lacks %s", bq.Command, want)
		}
	}

	port := masora.Environment["PORT"]
	if !slices.Contains(masora.Ports, "127.0.0.1:"+port+":"+port) {
		t.Errorf("masora listens on %s but publishes %v", port, masora.Ports)
	}
	if got := f.Service(t, "scheduler").Environment["MASORA_URL"]; got != "http://masora:"+port {
		t.Errorf("the scheduler calls %s, want http://masora:%s", got, port)
	}

	// The SQS emulator's init file: the queue with a redrive policy to its DLQ.
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "infra", "local", "fauxqs-init.json"))
	if err != nil {
		t.Fatal(err)
	}
	var init struct {
		Queues []struct {
			Name       string            `json:"name"`
			Attributes map[string]string `json:"attributes"`
		} `json:"queues"`
	}
	if err := json.Unmarshal(b, &init); err != nil {
		t.Fatalf("fauxqs-init.json: %v", err)
	}
	queues := map[string]map[string]string{}
	for _, q := range init.Queues {
		queues[q.Name] = q.Attributes
	}
	if _, ok := queues[stackenv.DLQName]; !ok {
		t.Errorf("fauxqs-init.json does not create the DLQ %s", stackenv.DLQName)
	}
	var redrive struct {
		Target   string `json:"deadLetterTargetArn"`
		MaxCount string `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(queues[stackenv.QueueName]["RedrivePolicy"]), &redrive); err != nil {
		t.Fatalf("fauxqs-init.json: queue %s has no valid RedrivePolicy: %v", stackenv.QueueName, err)
	}
	if !strings.HasSuffix(redrive.Target, ":"+stackenv.DLQName) || redrive.MaxCount != strconv.Itoa(stackenv.DefaultMaxReceiveCount) {
		t.Errorf("fauxqs-init.json redrive %+v, want to %s after %d receives as the local stack does", redrive, stackenv.DLQName, stackenv.DefaultMaxReceiveCount)
	}
}
