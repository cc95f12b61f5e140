package envconfig_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/ore-masora/pipeline/libs/envconfig"
)

// A service declares its variables once, bound to its Config, and checks
// its rules across variables after Load, in the same error format.
func Example() {
	type Config struct {
		Bucket   string
		Workers  int
		Timeout  time.Duration
		Audience string
		Emails   []string
	}
	var c Config
	vars := envconfig.Vars{
		{Name: "GCS_BUCKET", Required: true, Doc: "bucket the files go to", Value: envconfig.String(&c.Bucket)},
		{Name: "WORKERS", Default: "4", Doc: "uploads at once, 1 to 64", Value: envconfig.Int(&c.Workers, 1, 64)},
		{Name: "TIMEOUT", Default: "1m", Doc: "deadline of one upload", Value: envconfig.Duration(&c.Timeout, time.Second, time.Hour)},
		{Name: "AUDIENCE", Doc: "accept OIDC tokens for this audience", Value: envconfig.String(&c.Audience)},
		{Name: "ALLOWED_EMAILS", Doc: "comma-separated callers; required with AUDIENCE", Value: envconfig.List(&c.Emails)},
	}
	env := map[string]string{"WORKERS": "100", "AUDIENCE": "https://svc.example"}
	err := vars.Load(func(k string) string { return env[k] })
	if c.Audience != "" && len(c.Emails) == 0 {
		err = errors.Join(err, envconfig.Missing("ALLOWED_EMAILS", "with AUDIENCE: list the service accounts allowed to call"))
	}
	fmt.Println(err)
	fmt.Print(vars.Usage())
	// Output:
	// GCS_BUCKET is required: bucket the files go to
	// WORKERS="100": want a whole number from 1 to 64
	// ALLOWED_EMAILS is required with AUDIENCE: list the service accounts allowed to call
	// VARIABLE        DEFAULT     MEANING
	// GCS_BUCKET      (required)  bucket the files go to
	// WORKERS         4           uploads at once, 1 to 64
	// TIMEOUT         1m          deadline of one upload
	// AUDIENCE                    accept OIDC tokens for this audience
	// ALLOWED_EMAILS              comma-separated callers; required with AUDIENCE
}
