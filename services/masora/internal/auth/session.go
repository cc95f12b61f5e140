package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

// SessionCookieName is the name of the status page's session cookie.
const SessionCookieName = "masora_session"

// DefaultSessionTTL is how long a session cookie is accepted when
// Options.SessionTTL is not set.
const DefaultSessionTTL = 12 * time.Hour

// sessionVersion starts every session cookie value; a change of format
// changes it, which signs every person out.
const sessionVersion = "v1"

// A session cookie is "v1.<expiry, Unix seconds>.<MAC>", the MAC being
// HMAC-SHA256 keyed with the shared bearer token over a label and the
// expiry. It holds no secret: it shows neither the token nor anything a
// person could turn back into it, it stops being accepted at its expiry
// whatever the browser keeps, and changing MASORA_AUTH_TOKEN revokes every
// cookie. Every instance of the service derives the same MAC from the same
// token, so a session works across Cloud Run instances without shared state.

// CanLogin reports whether a person can exchange a token for a session
// cookie: a shared bearer token is configured.
func (a *Authenticator) CanLogin() bool { return len(a.token) > 0 }

// Login checks the token a person typed into the status page's form or put
// in its link, and returns the session cookie that opens the page. secure
// marks the cookie Secure (set it when the request came over HTTPS, as it
// does through Cloud Run). The error wraps fault.ErrUnauthenticated.
func (a *Authenticator) Login(token string, secure bool) (*http.Cookie, error) {
	if !a.CanLogin() {
		return nil, fmt.Errorf("%w: this Masora has no shared token (MASORA_AUTH_TOKEN), so the status page has no login; send an ID token in Authorization: Bearer instead", fault.ErrUnauthenticated)
	}
	if subtle.ConstantTimeCompare([]byte(token), a.token) != 1 {
		return nil, fmt.Errorf("%w: the token is not the configured one (MASORA_AUTH_TOKEN)", fault.ErrUnauthenticated)
	}
	expires := a.now().Add(a.sessionTTL).Truncate(time.Second)
	exp := strconv.FormatInt(expires.Unix(), 10)
	return &http.Cookie{
		Name:     SessionCookieName,
		Value:    sessionVersion + "." + exp + "." + a.sessionMAC(exp),
		Path:     "/",
		Expires:  expires,
		MaxAge:   int(a.sessionTTL / time.Second),
		Secure:   secure,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}, nil
}

// CheckPage authenticates a request for the status page: a valid session
// cookie, or anything Check accepts. Only the page may call it; the API
// endpoints use Check, which ignores the cookie, so a page open in a browser
// can never trigger a run (no cross-site request forgery to defend).
func (a *Authenticator) CheckPage(r *http.Request) (Caller, error) {
	cookieErr := errNoSession
	if c, err := r.Cookie(SessionCookieName); err == nil {
		if cookieErr = a.checkSession(c.Value); cookieErr == nil {
			return Caller{Method: "session"}, nil
		}
	}
	caller, err := a.Check(r)
	if err != nil && cookieErr != errNoSession {
		return Caller{}, fmt.Errorf("%w (session cookie: %v)", err, cookieErr)
	}
	return caller, err
}

var errNoSession = errors.New("no session cookie")

// checkSession returns nil when value is a session cookie this
// Authenticator made and has not expired.
func (a *Authenticator) checkSession(value string) error {
	if !a.CanLogin() {
		return errors.New("not accepted: no shared token is configured")
	}
	version, rest, ok1 := strings.Cut(value, ".")
	exp, mac, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || version != sessionVersion {
		return errors.New("malformed")
	}
	if !hmac.Equal([]byte(mac), []byte(a.sessionMAC(exp))) {
		return errors.New("not signed with the configured token (was MASORA_AUTH_TOKEN changed?)")
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return errors.New("malformed expiry")
	}
	if !a.now().Before(time.Unix(unix, 0)) {
		return errors.New("expired: open the page's link with the token again")
	}
	return nil
}

// sessionMAC is the MAC of a session cookie expiring at exp.
func (a *Authenticator) sessionMAC(exp string) string {
	m := hmac.New(sha256.New, a.token)
	m.Write([]byte("masora status page session " + sessionVersion + "\n" + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
