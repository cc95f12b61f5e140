package stackenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// minimal holds the keys Parse requires, for cases about other keys.
const minimal = "AWS_REGION=r\nSQS_ENDPOINT=http://q\nSTORAGE_EMULATOR_HOST=http://g\nBIGQUERY_ENDPOINT=http://b\nDATABASE_URL=postgres://d\n"

func TestParse(t *testing.T) {
	base := Env{AWSRegion: "r", SQSEndpoint: "http://q", StorageEmulatorHost: "http://g", BigQueryEndpoint: "http://b", DatabaseURL: "postgres://d"}
	with := func(f func(*Env)) Env { e := base; f(&e); return e }
	tests := []struct {
		name string
		in   string
		want Env
	}{
		{
			name: "plain, comments and blanks",
			in:   "# comment\n\n" + minimal + "GCS_BUCKET=b1\nSQS_QUEUE_URL=http://127.0.0.1:9/x?y=z\n",
			want: with(func(e *Env) { e.GCSBucket = "b1"; e.SQSQueueURL = "http://127.0.0.1:9/x?y=z" }),
		},
		{
			name: "single-quoted as Format writes it",
			in:   minimal + `DATABASE_URL='postgres://u:p&q@h/db?a=1&b=2'` + "\n" + `LAMBDA_RIE_BIN='it'\''s'` + "\n",
			want: with(func(e *Env) { e.DatabaseURL = "postgres://u:p&q@h/db?a=1&b=2"; e.LambdaRIEBin = "it's" }),
		},
		{
			name: "export prefix, empty value and unknown keys",
			in:   "export " + minimal + "GCS_BUCKET=\nSOMETHING_ELSE=1\n",
			want: base,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no equals sign", minimal + "NOEQUALS\n", `line 6: want KEY=VALUE, got "NOEQUALS"`},
		{"unterminated quote", minimal + "A='open\n", "line 6 (A): unterminated single quote"},
		{"empty key", minimal + "=1\n", `line 6: want KEY=VALUE, got "=1"`},
		{"missing keys", "AWS_REGION=r\nSQS_ENDPOINT=http://q\n", "lacks STORAGE_EMULATOR_HOST, BIGQUERY_ENDPOINT, DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestFormatParseRoundTrip checks that what the stack writes is what the
// tests and the demo read, for every key and awkward values.
func TestFormatParseRoundTrip(t *testing.T) {
	want := Env{
		AWSRegion: Region, AWSAccessKeyID: AccessKeyID, AWSSecretAccessKey: "s3cr'et $x",
		SQSEndpoint: "http://127.0.0.1:1", SQSQueueURL: "http://sqs.us-east-1.localhost:1/000000000000/" + QueueName,
		SQSDLQURL: "http://sqs.us-east-1.localhost:1/000000000000/" + DLQName, StorageEmulatorHost: "http://127.0.0.1:2",
		GCSBucket: Bucket, BigQueryEndpoint: "http://127.0.0.1:3", BigQueryProject: Project, BigQueryDataset: Dataset,
		DatabaseURL: "postgres://postgres@127.0.0.1:4/postgres?sslmode=disable&x=a b", LambdaRIEBin: "/tmp/with space/aws-lambda-rie",
	}
	var buf bytes.Buffer
	if err := Format(&buf, want.Vars()); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("Parse(Format(...)): %v\n%s", err, buf.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\nfile:\n%s", diff, buf.String())
	}
	keys := map[string]bool{}
	for _, v := range want.Vars() {
		if keys[v.Key] {
			t.Errorf("key %s written twice", v.Key)
		}
		keys[v.Key] = true
	}
	if !keys[KeyAWSEndpointURLSQS] || len(keys) != 14 {
		t.Errorf("Vars wrote keys %v; want all 14 keys including %s", keys, KeyAWSEndpointURLSQS)
	}
}

func TestFormatIsShellSourceable(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	vars := []Var{
		{"PLAIN", "http://127.0.0.1:4566"},
		{"QUERY", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"},
		{"AMP", "postgres://u:p@h/db?a=1&b=2"},
		{"QUOTE", "it's $HOME `x` \"y\""},
		{"EMPTY", ""},
		{"SPACE", "/path with space/bin"},
	}
	var buf bytes.Buffer
	if err := Format(&buf, vars); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		// Print the variable named by $2 after sourcing the file named by $1.
		out, err := exec.Command(sh, "-c", `. "$1"; eval "printf %s \"\${$2}\""`, "sh", path, v.Key).Output()
		if err != nil {
			t.Fatalf("source env file: %v\n%s", err, buf.String())
		}
		if got := string(out); got != v.Value {
			t.Errorf("%s: sourced value %q, want %q (line: %s)", v.Key, got, v.Value, v.Key+"="+shellQuote(v.Value))
		}
	}
}
