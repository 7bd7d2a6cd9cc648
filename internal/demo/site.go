package demo

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
)

const (
	presessionCookie = "demo_presession"
	sessionCookie    = "session"
)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Title}} · Demo Corp</title></head>
<body>
{{- if .User}}
<h1>Welcome, {{.User}}</h1>
<p>You are signed in to Demo Corp.</p>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
{{- else if .CSRF}}
<h1>Sign in to Demo Corp</h1>
{{- if .Error}}
<p class="error">{{.Error}}</p>
{{- end}}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label>Username <input type="text" name="username" id="username" autocomplete="username"></label>
<label>Password <input type="password" name="password" id="password" autocomplete="current-password"></label>
<button type="submit" id="submit">Sign in</button>
</form>
{{- else}}
<h1>{{.Title}}</h1>
<p class="error">{{.Error}}</p>
{{- end}}
</body>
</html>
`))

type page struct {
	Title string
	CSRF  string
	Error string
	User  string
}

// render writes a whole page or, if rendering fails, a plain 500: never half a page.
func render(w http.ResponseWriter, status int, p page) {
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, p); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (r *Realm) loginPage(w http.ResponseWriter, req *http.Request) {
	if r.login500(w) {
		return
	}
	r.showLoginForm(w, http.StatusOK, "")
}

// showLoginForm renders the form with a CSRF token bound to a new
// pre-session, so a token is only good in the browser it was issued to.
func (r *Realm) showLoginForm(w http.ResponseWriter, status int, errMsg string) {
	presession, csrf := rand.Text(), rand.Text()
	r.pending.put(presession, csrf)
	http.SetCookie(w, &http.Cookie{
		Name:     presessionCookie,
		Value:    presession,
		Path:     "/",
		MaxAge:   int(stateTTL.Seconds()),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	render(w, status, page{Title: "Sign in", CSRF: csrf, Error: errMsg})
}

func (r *Realm) login(w http.ResponseWriter, req *http.Request) {
	if r.login500(w) {
		return
	}
	req.Body = http.MaxBytesReader(w, req.Body, maxFormBytes)
	if err := req.ParseForm(); err != nil {
		render(w, http.StatusBadRequest, page{Title: "Bad request", Error: "invalid form"})
		return
	}
	if !r.csrfValid(req) {
		render(w, http.StatusForbidden, page{Title: "Forbidden", Error: "invalid csrf token"})
		return
	}
	if !r.passwordValid(req.PostForm.Get("username"), req.PostForm.Get("password")) {
		// 200, as real sites do: the probe must read the page to see the failure.
		r.showLoginForm(w, http.StatusOK, "Invalid username or password")
		return
	}
	sid := rand.Text()
	r.sessions.put(sid, probeUser)
	http.SetCookie(w, &http.Cookie{Name: presessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    sid,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, req, "/account", http.StatusFound)
}

// csrfValid consumes the pre-session's token whatever the outcome, so a
// token can never be replayed.
func (r *Realm) csrfValid(req *http.Request) bool {
	c, err := req.Cookie(presessionCookie)
	if err != nil {
		return false
	}
	want, ok := r.pending.take(c.Value)
	got := req.PostForm.Get("csrf")
	return ok && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (r *Realm) passwordValid(user, password string) bool {
	// Compare both so the time taken does not tell which one was wrong.
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(probeUser))
	passOK := subtle.ConstantTimeCompare([]byte(password), []byte(r.password))
	return userOK&passOK == 1
}

func (r *Realm) account(w http.ResponseWriter, req *http.Request) {
	user, ok := r.sessionUser(req)
	if !ok {
		http.Redirect(w, req, "/login", http.StatusFound)
		return
	}
	render(w, http.StatusOK, page{Title: "Account", User: user})
}

func (r *Realm) sessionUser(req *http.Request) (string, bool) {
	c, err := req.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	return r.sessions.get(c.Value)
}

func (r *Realm) logout(w http.ResponseWriter, req *http.Request) {
	if c, err := req.Cookie(sessionCookie); err == nil {
		r.sessions.delete(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, req, "/login", http.StatusFound)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
