package demo

import (
	"encoding/json"
	"net/http"
	"time"
)

// The single-page app signs in with JavaScript and keeps its token in
// localStorage, as many modern front ends do: only a real browser can log
// in here, and the token is reachable only from the page.

const spaLogin = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in · Demo Corp app</title></head>
<body>
<h1>Demo Corp app</h1>
<form id="login">
<label>Username <input type="text" id="username" autocomplete="username"></label>
<label>Password <input type="password" id="password" autocomplete="current-password"></label>
<button type="submit" id="submit">Sign in</button>
</form>
<p id="error" class="error" role="alert"></p>
<script>
document.getElementById('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const res = await fetch('/spa/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({username: document.getElementById('username').value, password: document.getElementById('password').value})});
  if (!res.ok) {
    document.getElementById('error').textContent = res.status === 401 ? 'Invalid username or password' : 'Sign-in failed (' + res.status + ')';
    return;
  }
  const body = await res.json();
  localStorage.setItem('token', body.token);
  location.assign('/spa/home');
});
</script>
</body>
</html>
`

const spaHome = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Home · Demo Corp app</title></head>
<body>
<h1 id="greeting">Loading…</h1>
<script>
(async () => {
  const token = localStorage.getItem('token');
  if (!token) { location.assign('/spa/'); return; }
  const res = await fetch('/spa/api/session', {headers: {Authorization: 'Bearer ' + token}});
  if (!res.ok) { console.error('session refused: ' + res.status); document.getElementById('greeting').textContent = 'Session expired'; return; }
  const me = await res.json();
  document.getElementById('greeting').textContent = 'Welcome, ' + me.sub;
})();
</script>
</body>
</html>
`

func (r *Realm) spaPage(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte(body))
	}
}

// spaLogin checks the password and answers a token for the page to keep.
func (r *Realm) spaLoginAPI(w http.ResponseWriter, req *http.Request) {
	if r.login500(w) {
		return
	}
	var in struct{ Username, Password string }
	if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxFormBytes)).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request"})
		return
	}
	if !r.passwordValid(in.Username, in.Password) {
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_grant"})
		return
	}
	tok, err := r.issue(r.issuerURL(req), in.Username, time.Now())
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

// spaSession is the app's own API: it accepts the token the login issued.
func (r *Realm) spaSession(w http.ResponseWriter, req *http.Request) {
	raw, ok := bearerToken(req)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_request"})
		return
	}
	sub, scope, err := r.verify(raw, r.issuerURL(req), 1, time.Now())
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_token", Description: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"sub": sub, "scope": scope})
}
