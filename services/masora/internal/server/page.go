package server

import (
	"net/http"
	"strings"

	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/statuspage"
)

// Page is the status page: a *statuspage.Page.
type Page interface {
	// ServeHTTP renders the page for an authenticated request.
	http.Handler
	// LoginForm renders the form that exchanges the shared token for a
	// session cookie.
	LoginForm(w http.ResponseWriter, code int, l statuspage.Login)
}

// pageRoutes adds the status page: GET / for a person with a session
// cookie (or a caller with a bearer token), GET /?token=… and POST /login
// to exchange the shared token for the cookie. The cookie opens the page
// only: the API routes check the Authorization header alone.
func (s *server) pageRoutes(mux *http.ServeMux) {
	mux.Handle("GET /{$}", s.route("/", s.page))
	mux.Handle("POST /login", s.route("/login", s.loginForm))
}

// page serves GET /: with ?token= it signs in, else it renders the page
// or, without valid credentials, the login form (401, or 403 for an ID
// token of a caller not allowed).
func (s *server) page(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Has("token") {
		return s.login(w, r, r.URL.Query().Get("token"))
	}
	c, err := s.d.Auth.CheckPage(r)
	if err != nil {
		msg := "Sign in to see Masora's status."
		if _, cerr := r.Cookie(auth.SessionCookieName); cerr == nil || r.Header.Get("Authorization") != "" {
			msg = err.Error()
		}
		s.d.Log.Info("status page: not signed in", "error", err)
		s.d.Page.LoginForm(w, Status(err), statuspage.Login{Message: msg, CanLogin: s.d.Auth.CanLogin()})
		return nil
	}
	s.d.Log.Debug("status page viewer authenticated", "method", c.Method, "email", c.Email)
	s.d.Page.ServeHTTP(w, r)
	return nil
}

// loginForm serves POST /login, the login form's submission.
func (s *server) loginForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	return s.login(w, r, r.PostFormValue("token"))
}

// login exchanges token for the session cookie and redirects to the page,
// which drops the token from the address bar; a wrong token gets the form
// again.
func (s *server) login(w http.ResponseWriter, r *http.Request, token string) error {
	secure := r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	cookie, err := s.d.Auth.Login(token, secure)
	if err != nil {
		s.d.Log.Warn("status page: sign-in refused", "error", err)
		s.d.Page.LoginForm(w, Status(err), statuspage.Login{Message: err.Error(), CanLogin: s.d.Auth.CanLogin()})
		return nil
	}
	http.SetCookie(w, cookie)
	statuspage.SecurityHeaders(w.Header())
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
