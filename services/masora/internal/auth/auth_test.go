package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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

func TestSession(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := start
	now := func() time.Time { return clock }
	newAuth := func(t *testing.T, opts auth.Options) *auth.Authenticator {
		t.Helper()
		opts.Now = now
		a, err := auth.New(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tokenAuth := newAuth(t, auth.Options{Token: token, SessionTTL: time.Hour})
	login := func(t *testing.T, a *auth.Authenticator, token string) *http.Cookie {
		t.Helper()
		c, err := a.Login(token, true)
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
		return c
	}
	cookie := login(t, tokenAuth, token)
	other := token[:len(token)-1] + "X"
	otherToken := login(t, newAuth(t, auth.Options{Token: other}), other)
	edited := func(f func(string) string) *http.Cookie {
		c := *cookie
		c.Value = f(c.Value)
		return &c
	}

	t.Run("cookie", func(t *testing.T) {
		if strings.Contains(cookie.Value, token) {
			t.Errorf("cookie value %q shows the token", cookie.Value)
		}
		got := fmt.Sprintf("name=%s path=%s httponly=%v secure=%v samesite=%v maxage=%d expires=%s",
			cookie.Name, cookie.Path, cookie.HttpOnly, cookie.Secure, cookie.SameSite, cookie.MaxAge, cookie.Expires.UTC().Format(time.RFC3339))
		want := fmt.Sprintf("name=%s path=/ httponly=true secure=true samesite=%v maxage=3600 expires=2026-11-30T13:00:00Z",
			auth.SessionCookieName, http.SameSiteStrictMode)
		if got != want {
			t.Errorf("cookie:\n got %s\nwant %s", got, want)
		}
		insecure, err := tokenAuth.Login(token, false)
		if err != nil || insecure.Secure {
			t.Errorf("Login(secure=false) = Secure %v, %v; want a cookie without Secure", insecure.Secure, err)
		}
	})

	t.Run("login", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			a     *auth.Authenticator
			token string
		}{
			{"wrong token", tokenAuth, token + "x"},
			{"empty token", tokenAuth, ""},
			{"prefix of the token", tokenAuth, token[:8]},
			{"no shared token configured", newAuth(t, auth.Options{InsecureLocal: true}), token},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if tt.a.CanLogin() && tt.name == "no shared token configured" {
					t.Error("CanLogin = true without a shared token")
				}
				if c, err := tt.a.Login(tt.token, true); !errors.Is(err, fault.ErrUnauthenticated) {
					t.Errorf("Login(%q) = %v, %v; want an error wrapping %v", tt.token, c, err, fault.ErrUnauthenticated)
				}
			})
		}
	})

	tests := []struct {
		name   string
		a      *auth.Authenticator
		cookie *http.Cookie
		header string
		after  time.Duration // how long after the login the request comes
		want   error
		method string
	}{
		{name: "valid cookie", a: tokenAuth, cookie: cookie, method: "session"},
		{name: "valid cookie just before expiry", a: tokenAuth, cookie: cookie, after: time.Hour - time.Second, method: "session"},
		{name: "expired cookie", a: tokenAuth, cookie: cookie, after: time.Hour, want: fault.ErrUnauthenticated},
		{name: "expired cookie with a bearer token", a: tokenAuth, cookie: cookie, after: 2 * time.Hour, header: "Bearer " + token, method: "token"},
		{name: "no cookie, no header", a: tokenAuth, want: fault.ErrUnauthenticated},
		{name: "bearer token without cookie", a: tokenAuth, header: "Bearer " + token, method: "token"},
		{name: "cookie signed with another token", a: tokenAuth, cookie: otherToken, want: fault.ErrUnauthenticated},
		{name: "expiry pushed later", a: tokenAuth, after: 2 * time.Hour, want: fault.ErrUnauthenticated,
			cookie: edited(func(v string) string {
				parts := strings.Split(v, ".")
				return parts[0] + "." + strconv.FormatInt(start.Add(24*time.Hour).Unix(), 10) + "." + parts[2]
			})},
		{name: "the token itself as cookie", a: tokenAuth, cookie: edited(func(string) string { return token }), want: fault.ErrUnauthenticated},
		{name: "malformed cookie", a: tokenAuth, cookie: edited(func(string) string { return "v1.x" }), want: fault.ErrUnauthenticated},
		{name: "other version", a: tokenAuth, cookie: edited(func(v string) string { return "v2" + v[2:] }), want: fault.ErrUnauthenticated},
		{name: "cookie where no token is configured", a: newAuth(t, auth.Options{Audience: audience, AllowedEmails: []string{sa},
			Issuer: authtest.GoogleIssuer, JWKSURL: "http://127.0.0.1:1"}), cookie: cookie, want: fault.ErrUnauthenticated},
		{name: "insecure local needs no cookie", a: newAuth(t, auth.Options{InsecureLocal: true}), method: "insecure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock = start.Add(tt.after)
			t.Cleanup(func() { clock = start })
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.cookie != nil {
				r.AddCookie(tt.cookie)
			}
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			c, err := tt.a.CheckPage(r)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("CheckPage = %+v, %v; want an error wrapping %v", c, err, tt.want)
				}
				return
			}
			if err != nil || c.Method != tt.method {
				t.Fatalf("CheckPage = %+v, %v; want method %q", c, err, tt.method)
			}
		})
	}

	t.Run("the cookie never authenticates Check", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/run", nil)
		r.AddCookie(cookie)
		if c, err := tokenAuth.Check(r); !errors.Is(err, fault.ErrUnauthenticated) {
			t.Fatalf("Check with a session cookie = %+v, %v; want an error wrapping %v", c, err, fault.ErrUnauthenticated)
		}
	})
}
