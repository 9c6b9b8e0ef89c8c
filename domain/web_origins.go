package domain

import (
	"net/url"
	"strings"
)

// Limits on a client's registered web origins.
const (
	// MaxWebOrigins is how many web origins a client may register.
	MaxWebOrigins = 32
	// MaxWebOriginLength bounds one web origin, in bytes.
	MaxWebOriginLength = 255
)

// CanonicalWebOrigin returns raw as a browser serializes an origin in its
// Origin header (RFC 6454 §6.2): an http or https scheme and host in
// lower case, a port only when it is not the scheme's default, no path,
// query, fragment or user information. It returns false when raw is no
// such origin (a wildcard, another scheme, a path, ...).
func CanonicalWebOrigin(raw string) (string, bool) {
	if raw == "" || len(raw) > MaxWebOriginLength || strings.ContainsAny(raw, "* \t\r\n") {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || strings.Contains(raw, "#") || (u.Path != "" && u.Path != "/") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if (scheme != "http" && scheme != "https") || host == "" {
		return "", false
	}
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	out := scheme + "://" + host
	if port != "" {
		out += ":" + port
	}
	return out, true
}

// validateWebOrigins checks a client's web origins: at most MaxWebOrigins,
// each written exactly as a browser sends it (see CanonicalWebOrigin: the
// error shows that form), no duplicates. It returns a *ValidationError on
// the field "web_origins".
func validateWebOrigins(origins []string) error {
	if len(origins) > MaxWebOrigins {
		return invalid("web_origins", "at most %d web origins are allowed", MaxWebOrigins)
	}
	for i, o := range origins {
		canon, ok := CanonicalWebOrigin(o)
		switch {
		case !ok:
			return invalid("web_origins", "%q is not a web origin: want scheme://host[:port] with an http or https scheme, no path and no wildcard", o)
		case canon != o:
			return invalid("web_origins", "%q: write it as a browser sends it, %q", o, canon)
		case contains(origins[:i], o):
			return invalid("web_origins", "%q is listed twice", o)
		}
	}
	return nil
}

// AllowsWebOrigin reports whether a browser page of origin (an Origin
// header's value) may read the answers the client gets from the token and
// revocation endpoints: the client is live and registered exactly that
// origin.
func (c Client) AllowsWebOrigin(origin string) bool {
	return c.Exists() && origin != "" && contains(c.WebOrigins, origin)
}
