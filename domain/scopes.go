package domain

import (
	"fmt"
	"sort"
	"strings"
)

// Scope is one entry of the scope catalogue, as Passport's tokensCan.
type Scope struct {
	ID          string `json:"id"`
	Description string `json:"description"`
}

// WildcardScope grants every scope. As in Passport, only client-credentials,
// password and personal-access tokens may carry it.
const WildcardScope = "*"

// AdminScope grants the admin API (server to server). It is in every
// catalogue (see WithAdminScope) but never given implicitly: it is no
// default scope, "*" does not cover it, and a client gets it only when its
// allowed scopes list it (`stamp client create --client --scopes admin`).
const AdminScope = "admin"

// Scopes is the catalogue of scopes tokens may carry and the default scopes
// a request that names none receives. It is immutable and safe for
// concurrent use.
type Scopes struct {
	list     []Scope
	byID     map[string]Scope
	defaults []string
}

// NewScopes validates and returns a catalogue. Scope ids are non-empty,
// unique and contain no space; every default must be in the list.
func NewScopes(list []Scope, defaults []string) (*Scopes, error) {
	c := &Scopes{byID: make(map[string]Scope, len(list))}
	for _, s := range list {
		if s.ID == "" || s.ID == WildcardScope || strings.ContainsAny(s.ID, " \t\r\n\"\\") {
			return nil, fmt.Errorf("domain: scope id %q is not valid", s.ID)
		}
		if _, dup := c.byID[s.ID]; dup {
			return nil, fmt.Errorf("domain: scope %q is listed twice", s.ID)
		}
		c.byID[s.ID] = s
		c.list = append(c.list, s)
	}
	for _, d := range defaults {
		if _, ok := c.byID[d]; !ok {
			return nil, fmt.Errorf("domain: default scope %q is not in the catalogue", d)
		}
		if d == AdminScope {
			return nil, fmt.Errorf("domain: default scope %q: the admin scope is never granted by default", d)
		}
	}
	c.defaults = append([]string(nil), defaults...)
	return c, nil
}

// List returns every scope in catalogue order.
func (c *Scopes) List() []Scope { return append([]Scope(nil), c.list...) }

// Defaults returns the default scopes.
func (c *Scopes) Defaults() []string { return append([]string(nil), c.defaults...) }

// Has reports whether id is in the catalogue.
func (c *Scopes) Has(id string) bool { _, ok := c.byID[id]; return ok }

// Describe returns the catalogue entry of id; an id outside the catalogue
// ("*") comes back with no description and false.
func (c *Scopes) Describe(id string) (Scope, bool) {
	s, ok := c.byID[id]
	if !ok {
		s = Scope{ID: id}
		if id == WildcardScope {
			s.Description = "Everything"
		}
	}
	return s, ok
}

// ParseScope splits an RFC 6749 §3.3 scope parameter: space-delimited,
// case-sensitive. Duplicates are dropped; order is kept.
func ParseScope(param string) []string {
	fields := strings.Fields(param)
	out := fields[:0]
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// FormatScope joins scopes into a scope parameter.
func FormatScope(scopes []string) string { return strings.Join(scopes, " ") }

// Resolve decides which scopes a token gets for a request (RFC 6749 §3.3).
// An empty request gets the defaults. Every requested scope must be in the
// catalogue and, when the client lists allowed scopes, among them; "*" is
// accepted only when wildcard is true (the grant allows it) and the client
// has no restriction; AdminScope only when allowed lists it. It returns a
// sorted copy, or ErrInvalidScope.
func (c *Scopes) Resolve(requested []string, wildcard bool, allowed []string) ([]string, error) {
	if len(requested) == 0 {
		requested = c.defaults
	}
	out := make([]string, 0, len(requested))
	for _, s := range requested {
		switch {
		case s == WildcardScope:
			if !wildcard {
				return nil, ErrInvalidScope.WithDescription("the scope %q is not allowed for this grant", s)
			}
			if len(allowed) > 0 {
				return nil, ErrInvalidScope.WithDescription("the client may not request %q", s)
			}
		case !c.Has(s):
			return nil, ErrInvalidScope.WithDescription("the scope %q is unknown", s)
		case s == AdminScope && !contains(allowed, s):
			return nil, ErrInvalidScope.WithDescription("the scope %q is granted only to a client whose allowed scopes list it", s)
		case len(allowed) > 0 && !contains(allowed, s):
			return nil, ErrInvalidScope.WithDescription("the client may not request the scope %q", s)
		}
		out = append(out, s)
	}
	sortStrings(out)
	return out, nil
}

func sortStrings(s []string) { sort.Strings(s) }

// ScopesAllow reports whether granted (a token's scopes) covers want: "*"
// covers everything but AdminScope, which must be granted by name.
func ScopesAllow(granted []string, want string) bool {
	return (want != AdminScope && contains(granted, WildcardScope)) || contains(granted, want)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
