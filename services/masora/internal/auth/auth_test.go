package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

const (
	issuer   = "https://accounts.google.com"
	audience = "https://masora.example.run.app"
	sa       = "scheduler@proj.iam.gserviceaccount.com"
	token    = "local-token-0123456789"
)

// jwks serves the public key of a fresh RSA key, the way Google serves its
// certificates, and signs tokens with it.
type jwks struct {
	url    string
	signer jose.Signer
}

func newJWKS(t *testing.T) *jwks {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	return &jwks{url: srv.URL, signer: newSigner(t, key)}
}

func newSigner(t *testing.T, key *rsa.PrivateKey) jose.Signer {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type claims struct {
	jwt.Claims
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

func sign(t *testing.T, s jose.Signer, c claims) string {
	t.Helper()
	raw, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func valid(now time.Time) claims {
	return claims{
		Claims: jwt.Claims{
			Issuer:   issuer,
			Audience: jwt.Audience{audience},
			Subject:  "1234567890",
			IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)),
			Expiry:   jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Email:         sa,
		EmailVerified: true,
	}
}

func TestCheck(t *testing.T) {
	now := time.Now()
	keys := newJWKS(t)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged := newSigner(t, otherKey)
	edit := func(f func(*claims)) claims {
		c := valid(now)
		f(&c)
		return c
	}
	oidcOnly := auth.Options{Audience: audience, AllowedEmails: []string{sa}, Issuer: issuer, JWKSURL: keys.url}
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
		{name: "ID token where only a static token is configured", opts: tokenOnly, header: "Bearer " + sign(t, keys.signer, valid(now)), want: fault.ErrUnauthenticated},
		{name: "static token next to OIDC", opts: both, header: "Bearer " + token, method: "token"},
		{name: "valid ID token", opts: oidcOnly, header: "Bearer " + sign(t, keys.signer, valid(now)), method: "oidc"},
		{name: "issuer without scheme, as Google sometimes writes it", opts: oidcOnly,
			header: "Bearer " + sign(t, keys.signer, edit(func(c *claims) { c.Issuer = "accounts.google.com" })), method: "oidc"},
		{name: "expired", opts: oidcOnly,
			header: "Bearer " + sign(t, keys.signer, edit(func(c *claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute)) })),
			want:   fault.ErrUnauthenticated},
		{name: "other audience", opts: oidcOnly,
			header: "Bearer " + sign(t, keys.signer, edit(func(c *claims) { c.Audience = jwt.Audience{"https://other.example"} })),
			want:   fault.ErrUnauthenticated},
		{name: "other issuer", opts: oidcOnly,
			header: "Bearer " + sign(t, keys.signer, edit(func(c *claims) { c.Issuer = "https://evil.example" })),
			want:   fault.ErrUnauthenticated},
		{name: "signed by another key", opts: oidcOnly, header: "Bearer " + sign(t, forged, valid(now)), want: fault.ErrUnauthenticated},
		{name: "garbage token", opts: oidcOnly, header: "Bearer not.a.jwt", want: fault.ErrUnauthenticated},
		{name: "email not allowed", opts: oidcOnly,
			header: "Bearer " + sign(t, keys.signer, edit(func(c *claims) { c.Email = "intruder@proj.iam.gserviceaccount.com" })),
			want:   fault.ErrForbidden},
		{name: "email not verified", opts: oidcOnly,
			header: "Bearer " + sign(t, keys.signer, edit(func(c *claims) { c.EmailVerified = false })),
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
		{Audience: audience, Issuer: issuer, JWKSURL: "http://127.0.0.1:1"}, // no allowed emails
	} {
		if _, err := auth.New(context.Background(), opts); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", opts)
		}
	}
}
