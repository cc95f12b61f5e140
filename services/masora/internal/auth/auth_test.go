package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/auth/authtest"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

const (
	audience = "https://masora.example.run.app"
	sa       = "scheduler@proj.iam.gserviceaccount.com"
	token    = "local-token-0123456789"
)

func TestCheck(t *testing.T) {
	now := time.Now()
	keys := authtest.NewIssuer(t)
	forged := authtest.NewIssuer(t) // another key under the same key id
	valid := authtest.Valid(now, audience, sa)
	edit := func(f func(*authtest.Claims)) authtest.Claims {
		c := valid
		f(&c)
		return c
	}
	oidcOnly := auth.Options{Audience: audience, AllowedEmails: []string{sa}, Issuer: authtest.GoogleIssuer, JWKSURL: keys.URL}
	both := oidcOnly
	both.Token = token
	tokenOnly := auth.Options{Token: token}

	tests := []struct {
		name   string
		opts   auth.Options
		header string
		want   error // nil, fault.ErrUnauthenticated or fault.ErrForbidden
		method string
	}{
		{name: "no header", opts: both, header: "", want: fault.ErrUnauthenticated},
		{name: "basic auth", opts: both, header: "Basic dXNlcjpwYXNz", want: fault.ErrUnauthenticated},
		{name: "empty bearer", opts: both, header: "Bearer ", want: fault.ErrUnauthenticated},
		{name: "static token", opts: tokenOnly, header: "Bearer " + token, method: "token"},
		{name: "static token, lower-case scheme", opts: tokenOnly, header: "bearer " + token, method: "token"},
		{name: "wrong static token", opts: tokenOnly, header: "Bearer " + token + "x", want: fault.ErrUnauthenticated},
		{name: "ID token where only a static token is configured", opts: tokenOnly, header: "Bearer " + keys.Sign(t, valid), want: fault.ErrUnauthenticated},
		{name: "static token next to OIDC", opts: both, header: "Bearer " + token, method: "token"},
		{name: "valid ID token", opts: oidcOnly, header: "Bearer " + keys.Sign(t, valid), method: "oidc"},
		{name: "issuer without scheme, as Google sometimes writes it", opts: oidcOnly,
			header: "Bearer " + keys.Sign(t, edit(func(c *authtest.Claims) { c.Issuer = "accounts.google.com" })), method: "oidc"},
		{name: "expired", opts: oidcOnly,
			header: "Bearer " + keys.Sign(t, edit(func(c *authtest.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute)) })),
			want:   fault.ErrUnauthenticated},
		{name: "other audience", opts: oidcOnly,
			header: "Bearer " + keys.Sign(t, edit(func(c *authtest.Claims) { c.Audience = jwt.Audience{"https://other.example"} })),
			want:   fault.ErrUnauthenticated},
		{name: "other issuer", opts: oidcOnly,
			header: "Bearer " + keys.Sign(t, edit(func(c *authtest.Claims) { c.Issuer = "https://evil.example" })),
			want:   fault.ErrUnauthenticated},
		{name: "signed by another key", opts: oidcOnly, header: "Bearer " + forged.Sign(t, valid), want: fault.ErrUnauthenticated},
		{name: "garbage token", opts: oidcOnly, header: "Bearer not.a.jwt", want: fault.ErrUnauthenticated},
		{name: "email not allowed", opts: oidcOnly,
			header: "Bearer " + keys.Sign(t, edit(func(c *authtest.Claims) { c.Email = "intruder@proj.iam.gserviceaccount.com" })),
			want:   fault.ErrForbidden},
		{name: "email not verified", opts: oidcOnly,
			header: "Bearer " + keys.Sign(t, edit(func(c *authtest.Claims) { c.EmailVerified = false })),
			want:   fault.ErrForbidden},
		{name: "insecure local accepts anything", opts: auth.Options{InsecureLocal: true}, header: "", method: "insecure"},
		{name: "insecure local is ignored when a token is set", opts: auth.Options{InsecureLocal: true, Token: token}, header: "", want: fault.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := auth.New(context.Background(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, "/run", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			c, err := a.Check(r)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check: %v, want success", err)
				}
				if c.Method != tt.method {
					t.Errorf("Check method = %q, want %q", c.Method, tt.method)
				}
				if tt.method == "oidc" && c.Email != sa {
					t.Errorf("Check email = %q, want %q", c.Email, sa)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want an error wrapping %v", err, tt.want)
			}
		})
	}
}

func TestNewRefusesNoAuth(t *testing.T) {
	for _, opts := range []auth.Options{
		{},
		{Audience: audience, Issuer: authtest.GoogleIssuer, JWKSURL: "http://127.0.0.1:1"}, // no allowed emails
	} {
		if _, err := auth.New(context.Background(), opts); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", opts)
		}
	}
}
