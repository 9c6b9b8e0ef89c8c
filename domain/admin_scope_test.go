package domain

import (
	"errors"
	"slices"
	"testing"
)

// TestAdminScopeNeverImplicit checks that the admin scope is granted only
// by name: to a client whose allowed scopes list it, never as a default,
// never through "*".
func TestAdminScopeNeverImplicit(t *testing.T) {
	list := WithAdminScope([]Scope{{"read", "Read"}})
	if !slices.ContainsFunc(list, func(s Scope) bool { return s.ID == AdminScope }) || len(WithAdminScope(list)) != len(list) {
		t.Fatalf("WithAdminScope: got %v; want read and admin once", list)
	}
	c, err := NewScopes(list, []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewScopes(list, []string{AdminScope}); err == nil {
		t.Errorf("NewScopes with admin as a default: got nil; want an error")
	}
	for _, tt := range []struct {
		name      string
		requested string
		allowed   []string
		want      []string
		wantErr   error
	}{
		{"a client without restriction may not", "admin", nil, nil, ErrInvalidScope},
		{"a client restricted to other scopes may not", "admin", []string{"read"}, nil, ErrInvalidScope},
		{"a client that lists it may", "admin", []string{"admin"}, []string{"admin"}, nil},
		{"the defaults never hold it", "", []string{"admin", "read"}, []string{"read"}, nil},
	} {
		got, err := c.Resolve(ParseScope(tt.requested), true, tt.allowed)
		if !errors.Is(err, tt.wantErr) || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, %v; want %v, %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
	if ScopesAllow([]string{WildcardScope}, AdminScope) {
		t.Errorf("ScopesAllow([*], admin) = true; want false: * does not cover the admin scope")
	}
	if !ScopesAllow([]string{AdminScope}, AdminScope) || !ScopesAllow([]string{WildcardScope}, "read") {
		t.Errorf("ScopesAllow: admin by name or * for another scope must pass")
	}
}
