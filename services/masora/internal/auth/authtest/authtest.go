// Package authtest stands in for Google's OIDC issuer in tests: a JWKS
// endpoint serving the public half of a fresh RSA key, and that key to sign
// ID tokens with. It is a test-only helper.
package authtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// GoogleIssuer is the issuer Google writes into its ID tokens.
const GoogleIssuer = "https://accounts.google.com"

// keyID is the key id of every Issuer's key, so that a token signed by one
// Issuer names a key another Issuer serves: it then fails on its signature.
const keyID = "k1"

// Issuer serves a JWKS at URL and signs tokens with the matching key.
type Issuer struct {
	URL    string
	signer jose.Signer
}

// NewIssuer starts an issuer with a fresh key; it stops with the test.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: keyID, Algorithm: "RS256", Use: "sig"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keyID))
	if err != nil {
		t.Fatal(err)
	}
	return &Issuer{URL: srv.URL, signer: s}
}

// Claims are the claims of a Google-signed ID token.
type Claims struct {
	jwt.Claims
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

// Valid returns the claims of a token Cloud Scheduler would send at now:
// Google's issuer, the audience, a verified email, an hour to live.
func Valid(now time.Time, audience, email string) Claims {
	return Claims{
		Claims: jwt.Claims{
			Issuer:   GoogleIssuer,
			Audience: jwt.Audience{audience},
			Subject:  "1234567890",
			IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)),
			Expiry:   jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Email:         email,
		EmailVerified: true,
	}
}

// Sign returns the signed, serialized token carrying c.
func (i *Issuer) Sign(t testing.TB, c Claims) string {
	t.Helper()
	raw, err := jwt.Signed(i.signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
