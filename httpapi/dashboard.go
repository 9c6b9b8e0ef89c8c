package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// dashboardFS holds the dashboard, Passport's Vue components redone in
// plain JavaScript: index.html (a template: the header, the forms and
// empty lists), app.js (which fills them from the JSON API) and app.css.
//
//go:embed dashboard
var dashboardFS embed.FS

// Paths of the dashboard: the page at the issuer's root, its assets below
// pathDashboardAssets.
const (
	pathDashboard       = "/"
	pathDashboardAssets = "/dashboard/"
)

// dashboardCSP lets the page load its own script and stylesheet and call
// the API on its own origin, nothing else. Trusted Types are required, so
// a string can never reach an HTML sink: app.js builds the DOM node by
// node.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'"

// assetCacheControl: asset URLs carry a hash of the content, so a browser
// may keep what it fetched for a year.
const assetCacheControl = "public, max-age=31536000, immutable"

// dashboard serves the page and its assets. It is immutable after
// registerDashboard and safe for concurrent use.
type dashboard struct {
	s      *server
	page   *template.Template
	assets map[string]asset // by file name
}

// asset is one embedded file served under pathDashboardAssets.
type asset struct {
	body        []byte
	contentType string
	url         string // path with a content hash, for the page to link
}

// dashboardView is the data of index.html.
type dashboardView struct {
	Base    string // the issuer's path, prefix of every link
	Email   string
	CSRF    string // the session's CSRF token, which logout checks
	CSS, JS string // the assets' URLs
}

// registerDashboard adds GET / (the dashboard) and GET /dashboard/:file
// (its assets) to r. The files are embedded, so a parse failure is a
// broken build, which the package's tests catch: it panics.
func (s *server) registerDashboard(r *routeTable) {
	d := &dashboard{
		s:      s,
		page:   template.Must(template.ParseFS(dashboardFS, "dashboard/index.html")),
		assets: map[string]asset{},
	}
	for name, typ := range map[string]string{
		"app.js":  "text/javascript; charset=utf-8",
		"app.css": "text/css; charset=utf-8",
	} {
		b, err := dashboardFS.ReadFile("dashboard/" + name)
		if err != nil {
			panic("httpapi: dashboard asset " + name + " is not embedded")
		}
		sum := sha256.Sum256(b)
		d.assets[name] = asset{body: b, contentType: typ,
			url: s.base + pathDashboardAssets + name + "?v=" + hex.EncodeToString(sum[:6])}
	}
	r.GET(pathDashboard, d.index)
	r.GET(pathDashboardAssets+":file", d.asset)
}

// index answers GET /: the dashboard for a logged-in user, a redirect to
// the login page (coming back here) for anyone else.
func (d *dashboard) index(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s := d.s
	s.htmlHeaders(w) // until the page is rendered, errors are ordinary pages
	v, err := s.visit(r)
	if err != nil {
		s.renderPageError(w, r, v, err)
		return
	}
	if v.user == nil {
		s.toLogin(w, s.base+pathDashboard)
		return
	}
	var buf bytes.Buffer
	view := dashboardView{Base: s.base, Email: v.user.Email, CSRF: v.sess.CSRF,
		CSS: d.assets["app.css"].url, JS: d.assets["app.js"].url}
	if err := d.page.Execute(&buf, view); err != nil {
		s.log.ErrorContext(r.Context(), "httpapi: render dashboard", "error", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", dashboardCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// asset answers GET /dashboard/:file with an embedded asset, cached for
// long; an unknown file is 404.
func (d *dashboard) asset(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	a, ok := d.assets[ps.ByName("file")]
	if !ok {
		d.s.notFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", assetCacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(a.body)
}
