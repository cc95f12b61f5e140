// Package auth decides who may trigger runs: a Google-signed OIDC ID token
// (what Cloud Scheduler sends to Cloud Run) from an allowed service account
// for the configured audience, or a shared bearer token for local use, or —
// only when explicitly switched on — nobody checked at all. It also owns the
// status page's session cookie, which a person gets in exchange for the
// shared token and which opens the page only (see session.go).
package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

// Options configure an Authenticator. At least one of Token, Audience or
// InsecureLocal must be set.
type Options struct {
	// Token is a shared bearer token; empty disables it.
	Token string
	// Audience, when set, enables OIDC ID tokens with this audience.
	Audience string
	// AllowedEmails are the service accounts whose ID tokens are accepted.
	AllowedEmails []string
	// Issuer is the required issuer, e.g. https://accounts.google.com.
	Issuer string
	// JWKSURL serves the issuer's signing keys.
	JWKSURL string
	// InsecureLocal accepts every request when neither Token nor Audience
	// is set.
	InsecureLocal bool
	// Now returns the current time for expiry checks; nil means time.Now.
	Now func() time.Time
	// SessionTTL is how long a status page session cookie is accepted;
	// 0 means DefaultSessionTTL.
	SessionTTL time.Duration
}

// Authenticator checks the credentials of a request.
type Authenticator struct {
	token      []byte
	verifier   *oidc.IDTokenVerifier
	emails     map[string]bool
	insecure   bool
	now        func() time.Time
	sessionTTL time.Duration
}

// Caller says who a request came from.
type Caller struct {
	// Method is "oidc", "token", "session" (the status page's cookie) or
	// "insecure".
	Method string
	// Email is the service account of an OIDC caller.
	Email string
}

// New returns an Authenticator. ctx bounds the background fetching of the
// issuer's keys, so it should live as long as the server.
func New(ctx context.Context, opts Options) (*Authenticator, error) {
	a := &Authenticator{token: []byte(opts.Token), now: opts.Now, sessionTTL: opts.SessionTTL}
	if a.now == nil {
		a.now = time.Now
	}
	if a.sessionTTL <= 0 {
		a.sessionTTL = DefaultSessionTTL
	}
	if opts.Audience != "" {
		if len(opts.AllowedEmails) == 0 {
			return nil, errors.New("OIDC needs at least one allowed service account email")
		}
		keys := oidc.NewRemoteKeySet(ctx, opts.JWKSURL)
		a.verifier = oidc.NewVerifier(opts.Issuer, keys, &oidc.Config{ClientID: opts.Audience, Now: opts.Now})
		a.emails = make(map[string]bool, len(opts.AllowedEmails))
		for _, e := range opts.AllowedEmails {
			a.emails[strings.ToLower(e)] = true
		}
	}
	if len(a.token) == 0 && a.verifier == nil {
		if !opts.InsecureLocal {
			return nil, errors.New("no authentication configured: set an OIDC audience and allowed emails, or a bearer token, or insecure local mode")
		}
		a.insecure = true
	}
	return a, nil
}

// ParseBearer returns the token of an Authorization header value
// "Bearer <token>" (RFC 6750 section 2.1: the scheme in any case, one
// space, a token of ValidToken's characters). Anything else is an error
// wrapping fault.ErrUnauthenticated.
func ParseBearer(header string) (string, error) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !ValidToken(token) {
		return "", fmt.Errorf("%w: send Authorization: Bearer <token>", fault.ErrUnauthenticated)
	}
	return token, nil
}

// ValidToken reports whether s can be a bearer token: RFC 6750's b64token,
// one or more of A-Z a-z 0-9 - . _ ~ + / followed by any '='. OIDC ID
// tokens (JWTs) are; MASORA_AUTH_TOKEN must be.
func ValidToken(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for _, c := range []byte(body) {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// Check returns the caller of r, or an error wrapping
// fault.ErrUnauthenticated (no or invalid credentials) or
// fault.ErrForbidden (a valid token of a caller not allowed). It reads the
// Authorization header only: the session cookie never authenticates an API
// call (see CheckPage).
func (a *Authenticator) Check(r *http.Request) (Caller, error) {
	if a.insecure {
		return Caller{Method: "insecure"}, nil
	}
	raw, err := ParseBearer(r.Header.Get("Authorization"))
	if err != nil {
		return Caller{}, err
	}
	if len(a.token) > 0 && subtle.ConstantTimeCompare([]byte(raw), a.token) == 1 {
		return Caller{Method: "token"}, nil
	}
	if a.verifier == nil {
		return Caller{}, fmt.Errorf("%w: the bearer token is not the configured one", fault.ErrUnauthenticated)
	}
	tok, err := a.verifier.Verify(r.Context(), raw)
	if err != nil {
		return Caller{}, fmt.Errorf("%w: ID token rejected: %w", fault.ErrUnauthenticated, err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := tok.Claims(&claims); err != nil {
		return Caller{}, fmt.Errorf("%w: ID token claims: %w", fault.ErrUnauthenticated, err)
	}
	if !claims.EmailVerified || !a.emails[strings.ToLower(claims.Email)] {
		return Caller{}, fmt.Errorf("%w: %q (verified: %v) is not an allowed service account", fault.ErrForbidden, claims.Email, claims.EmailVerified)
	}
	return Caller{Method: "oidc", Email: claims.Email}, nil
}
