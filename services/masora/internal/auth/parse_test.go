package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

func TestParseBearer(t *testing.T) {
	tests := []struct {
		header, want string // want "" for an error
	}{
		{"Bearer local-token-0123456789", "local-token-0123456789"},
		{"bearer abc", "abc"},
		{"BEARER a.b.c", "a.b.c"},
		{"Bearer eyJh+/_-~.x==", "eyJh+/_-~.x=="},
		{"", ""},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Bearer  abc", ""},
		{"Bearer abc ", ""},
		{"Bearer a b", ""},
		{"Bearer ==", ""},
		{"Bearer a=b", ""},
		{"Basic dXNlcjpwdw==", ""},
		{"Bearerabc", ""},
		{"Bearer abc\x00", ""},
		{"Bearer t\u00e9", ""},
	}
	for _, tt := range tests {
		got, err := auth.ParseBearer(tt.header)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("ParseBearer(%q) = %q, %v; want %q", tt.header, got, err, tt.want)
		}
		if err != nil && !errors.Is(err, fault.ErrUnauthenticated) {
			t.Errorf("ParseBearer(%q): %v, want an error wrapping %v", tt.header, err, fault.ErrUnauthenticated)
		}
	}
}

// FuzzParseBearer checks that ParseBearer never panics, accepts only
// "<Bearer in any case> <valid token>", and reads back every valid token.
func FuzzParseBearer(f *testing.F) {
	f.Add("Bearer local-token-0123456789")
	f.Add("bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")
	f.Add("Bearer  two-spaces")
	f.Add("Basic dXNlcjpwdw==")
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := auth.ParseBearer(header)
		if err != nil {
			if !errors.Is(err, fault.ErrUnauthenticated) {
				t.Fatalf("ParseBearer(%q): %v, want an error wrapping %v", header, err, fault.ErrUnauthenticated)
			}
		} else {
			scheme, rest, _ := strings.Cut(header, " ")
			if !strings.EqualFold(scheme, "Bearer") || rest != tok || !auth.ValidToken(tok) {
				t.Fatalf("ParseBearer(%q) = %q: not the valid token after a Bearer scheme", header, tok)
			}
		}
		if auth.ValidToken(header) {
			if got, err := auth.ParseBearer("Bearer " + header); err != nil || got != header {
				t.Fatalf("ParseBearer(Bearer %q) = %q, %v; want the token back", header, got, err)
			}
		}
	})
}
