package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/auth/authtest"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/metrics"
	"github.com/ore-masora/pipeline/services/masora/internal/server"
	"github.com/ore-masora/pipeline/services/masora/internal/statuspage"
)

// fakePage stands in for the status page: it answers "the page", or the
// login form's message.
type fakePage struct{}

func (fakePage) ServeHTTP(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the page") }

func (fakePage) LoginForm(w http.ResponseWriter, code int, l statuspage.Login) {
	w.WriteHeader(code)
	io.WriteString(w, "login form")
	if !l.CanLogin {
		io.WriteString(w, " without login")
	}
	io.WriteString(w, ": "+l.Message)
}

// pageRequest is one request of the status page's flows.
type pageRequest struct {
	method, target string
	form           url.Values // a POST body, form-encoded
	cookie         *http.Cookie
	bearer         string
	header         http.Header
}

// pageAnswer is what the tests look at in an answer.
type pageAnswer struct {
	Code     int
	Body     string // the first line
	Location string
	Cookie   string // the session cookie's attributes, without its value
}

func servePage(t *testing.T, h http.Handler, r pageRequest) (pageAnswer, *http.Cookie) {
	t.Helper()
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	}
	req := httptest.NewRequest(r.method, r.target, body)
	if r.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.cookie != nil {
		req.AddCookie(r.cookie)
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := pageAnswer{Code: rec.Code, Body: strings.SplitN(rec.Body.String(), "\n", 2)[0], Location: rec.Header().Get("Location")}
	var cookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.SessionCookieName {
			cookie = c
			// The value and the expiry vary; the auth tests check them.
			a.Cookie = expires.ReplaceAllString(strings.Replace(c.String(), c.Value, "…", 1), "Expires=…;")
			if strings.Contains(c.Value, token) {
				t.Errorf("%s %s: the session cookie %q holds the token", r.method, r.target, c.Value)
			}
		}
	}
	if a.Location != "" && rec.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("%s %s: redirect without Referrer-Policy: no-referrer", r.method, r.target)
	}
	return a, cookie
}

var expires = regexp.MustCompile(`Expires=[^;]*;`)

func pageServer(t *testing.T, opts auth.Options, runner *fakeRunner) http.Handler {
	t.Helper()
	a, err := auth.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return server.New(server.Deps{
		Runner: runner, History: &fakeHistory{runs: []ledger.Run{loaded}}, Auth: a,
		Metrics: metrics.New(), Log: masoratest.Logger(t), Page: fakePage{},
	})
}

// TestPageAuth walks the status page's sign-in: the token for a cookie,
// the cookie for the page, and never the cookie for the API.
func TestPageAuth(t *testing.T) {
	runner := &fakeRunner{outs: []ledger.Run{loaded}}
	h := pageServer(t, auth.Options{Token: token}, runner)
	_, cookie := servePage(t, h, pageRequest{method: "GET", target: "/?token=" + token})
	if cookie == nil {
		t.Fatal("GET /?token= set no session cookie")
	}
	sessionCookie := func(secure bool) string {
		if secure {
			return "masora_session=…; Path=/; Expires=…; Max-Age=43200; HttpOnly; Secure; SameSite=Strict"
		}
		return "masora_session=…; Path=/; Expires=…; Max-Age=43200; HttpOnly; SameSite=Strict"
	}
	redirected := `<a href="/">See Other</a>.`
	garbage := &http.Cookie{Name: auth.SessionCookieName, Value: "v1.99999999999.forged"}
	tokenCookie := &http.Cookie{Name: auth.SessionCookieName, Value: token}

	tests := []struct {
		name string
		req  pageRequest
		want pageAnswer
	}{
		{"first visit", pageRequest{method: "GET", target: "/"},
			pageAnswer{Code: 401, Body: "login form: Sign in to see Masora's status."}},
		{"token in the link", pageRequest{method: "GET", target: "/?token=" + token},
			pageAnswer{Code: 303, Body: redirected, Location: "/", Cookie: sessionCookie(false)}},
		{"token in the link over HTTPS (Cloud Run)", pageRequest{method: "GET", target: "/?token=" + token, header: http.Header{"X-Forwarded-Proto": {"https"}}},
			pageAnswer{Code: 303, Body: redirected, Location: "/", Cookie: sessionCookie(true)}},
		{"wrong token in the link", pageRequest{method: "GET", target: "/?token=" + url.QueryEscape(token+"x")},
			pageAnswer{Code: 401, Body: "login form: unauthenticated: the token is not the configured one (MASORA_AUTH_TOKEN)"}},
		{"empty token in the link", pageRequest{method: "GET", target: "/?token="},
			pageAnswer{Code: 401, Body: "login form: unauthenticated: the token is not the configured one (MASORA_AUTH_TOKEN)"}},
		{"login form", pageRequest{method: "POST", target: "/login", form: url.Values{"token": {token}}},
			pageAnswer{Code: 303, Location: "/", Cookie: sessionCookie(false)}},
		{"login form, wrong token", pageRequest{method: "POST", target: "/login", form: url.Values{"token": {"nope"}}},
			pageAnswer{Code: 401, Body: "login form: unauthenticated: the token is not the configured one (MASORA_AUTH_TOKEN)"}},
		{"login form, no token", pageRequest{method: "POST", target: "/login"},
			pageAnswer{Code: 401, Body: "login form: unauthenticated: the token is not the configured one (MASORA_AUTH_TOKEN)"}},
		{"the cookie opens the page", pageRequest{method: "GET", target: "/", cookie: cookie},
			pageAnswer{Code: 200, Body: "the page"}},
		{"a bearer token opens the page", pageRequest{method: "GET", target: "/", bearer: token},
			pageAnswer{Code: 200, Body: "the page"}},
		{"a forged cookie", pageRequest{method: "GET", target: "/", cookie: garbage},
			pageAnswer{Code: 401, Body: "login form: unauthenticated: send Authorization: Bearer <token> (session cookie: not signed with the configured token (was MASORA_AUTH_TOKEN changed?))"}},
		{"the token as cookie", pageRequest{method: "GET", target: "/", cookie: tokenCookie},
			pageAnswer{Code: 401, Body: "login form: unauthenticated: send Authorization: Bearer <token> (session cookie: malformed)"}},
		{"the cookie does not run", pageRequest{method: "POST", target: "/run", cookie: cookie},
			pageAnswer{Code: 401, Body: "{"}},
		{"the cookie does not backfill", pageRequest{method: "POST", target: "/backfill?from=2024-05-01T00:00:00Z&to=2024-05-01T01:00:00Z", cookie: cookie},
			pageAnswer{Code: 401, Body: "{"}},
		{"the cookie does not read the API", pageRequest{method: "GET", target: "/runs", cookie: cookie},
			pageAnswer{Code: 401, Body: "{"}},
		{"only / is the page", pageRequest{method: "GET", target: "/index.html", cookie: cookie},
			pageAnswer{Code: 404, Body: "404 page not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := servePage(t, h, tt.req)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", tt.req.method, tt.req.target, diff)
			}
		})
	}
	if len(runner.got) > 0 {
		t.Errorf("runs started with the session cookie: %v", runner.got)
	}
}

// TestPageAuthModes checks the page in the other authentication set-ups:
// OIDC only (no token to sign in with), insecure local, and no page.
func TestPageAuthModes(t *testing.T) {
	iss := authtest.NewIssuer(t)
	oidcOnly := auth.Options{Audience: audience, AllowedEmails: []string{sa}, Issuer: authtest.GoogleIssuer, JWKSURL: iss.URL}
	tests := []struct {
		name string
		opts auth.Options
		req  pageRequest
		want pageAnswer
	}{
		{"OIDC only: first visit", oidcOnly, pageRequest{method: "GET", target: "/"},
			pageAnswer{Code: 401, Body: "login form without login: Sign in to see Masora's status."}},
		{"OIDC only: a token in the link", oidcOnly, pageRequest{method: "GET", target: "/?token=" + token},
			pageAnswer{Code: 401, Body: "login form without login: unauthenticated: this Masora has no shared token (MASORA_AUTH_TOKEN), so the status page has no login; send an ID token in Authorization: Bearer instead"}},
		{"OIDC only: an allowed ID token", oidcOnly, pageRequest{method: "GET", target: "/", bearer: iss.Sign(t, authtest.Valid(time.Now(), audience, sa))},
			pageAnswer{Code: 200, Body: "the page"}},
		{"OIDC only: an ID token of another account", oidcOnly,
			pageRequest{method: "GET", target: "/", bearer: iss.Sign(t, authtest.Valid(time.Now(), audience, "someone@example.com"))},
			pageAnswer{Code: 403, Body: `login form without login: forbidden: "someone@example.com" (verified: true) is not an allowed service account`}},
		{"insecure local", auth.Options{InsecureLocal: true}, pageRequest{method: "GET", target: "/"},
			pageAnswer{Code: 200, Body: "the page"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := servePage(t, pageServer(t, tt.opts, &fakeRunner{}), tt.req)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", tt.req.method, tt.req.target, diff)
			}
		})
	}
	t.Run("no page", func(t *testing.T) {
		if code, _ := serve(t, auth.Options{Token: token}, server.Deps{}, "GET", "/", token, ""); code != http.StatusNotFound {
			t.Errorf("GET / without a page = %d, want 404", code)
		}
	})
}
