package domain

import (
	"net/url"
	"strings"
)

// ErrInvalidTarget is RFC 8707 §2's error: a requested resource is
// invalid, unknown, malformed or not one the client may get a token for.
var ErrInvalidTarget = &OAuthError{Code: "invalid_target"}

// Limits on a client's registered audiences.
const (
	// MaxAudiences is how many resource audiences a client may register.
	MaxAudiences = 32
	// MaxAudienceLength bounds one audience URI, in bytes.
	MaxAudienceLength = 2048
)

// ParseResources splits a resource parameter (RFC 8707 §2): the HTTP
// layer joins repeated resource parameters with spaces, which no absolute
// URI holds. Duplicates are dropped, order kept.
func ParseResources(s string) []string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil
	}
	return dedupe(f)
}

// validResource reports whether s is a resource indicator RFC 8707 §2
// allows: an absolute URI without a fragment (nor whitespace or control
// characters), with a host when it is http(s).
func validResource(s string) bool {
	if s == "" || len(s) > MaxAudienceLength || strings.ContainsAny(s, "# \t\r\n") {
		return false
	}
	for _, c := range []byte(s) {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return false
	}
	return (u.Scheme != "http" && u.Scheme != "https") || u.Host != ""
}

// validateAudiences checks a client's resource audiences (RFC 8707 §2):
// each an absolute URI without fragment, at most MaxAudiences, no
// duplicates. It returns a *ValidationError on the field "audiences".
func validateAudiences(audiences []string) error {
	if len(audiences) > MaxAudiences {
		return invalid("audiences", "at most %d audiences are allowed", MaxAudiences)
	}
	for i, a := range audiences {
		if !validResource(a) {
			return invalid("audiences", "%q is not an absolute URI without a fragment (RFC 8707)", a)
		}
		if contains(audiences[:i], a) {
			return invalid("audiences", "%q is listed twice", a)
		}
	}
	return nil
}

// decideResources decides the resources (the "aud") of an access token,
// RFC 8707 §2: requested is the request's resource parameter, bound the
// resources the grant being redeemed was issued for (an authorization
// code's, a refresh token family's; nil for a grant with none or a fresh
// one).
//
// With no resource requested the token gets bound (nil: its aud is then
// the client id, as before resource indicators). A requested resource
// must be one of bound when bound is not empty (a token may narrow its
// grant, never widen it). Every resource of the token must be one of the
// client's registered audiences, now: one removed from the client is no
// longer issued. Any failure is ErrInvalidTarget naming the resource.
func decideResources(c Client, requested string, bound []string) ([]string, error) {
	want := ParseResources(requested)
	if len(want) == 0 {
		want = bound
	}
	for _, r := range want {
		switch {
		case !validResource(r):
			return nil, ErrInvalidTarget.WithDescription("the resource %q is not an absolute URI without a fragment", clipValue(r))
		case !contains(c.Audiences, r):
			return nil, ErrInvalidTarget.WithDescription("the resource %q is not registered for the client", clipValue(r))
		case len(bound) > 0 && !contains(bound, r):
			return nil, ErrInvalidTarget.WithDescription("the resource %q was not granted", clipValue(r))
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	return sortedCopy(want), nil
}

// audienceOf returns the aud of a token for c with resources: the
// resources, or the client id when there are none.
func audienceOf(c Client, resources []string) Audience {
	if len(resources) == 0 {
		return Audience{c.ID}
	}
	return Audience(resources)
}

// clipValue shortens a value echoed in an error description.
func clipValue(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
