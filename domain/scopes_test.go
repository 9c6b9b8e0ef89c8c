package domain

import (
	"errors"
	"slices"
	"testing"
)

func TestScopesResolve(t *testing.T) {
	c, err := NewScopes([]Scope{{"read", "Read"}, {"write", "Write"}}, []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		requested string
		wildcard  bool
		allowed   []string
		want      []string
		wantErr   error
	}{
		{"defaults", "", false, nil, []string{"read"}, nil},
		{"sorted", "write read", false, nil, []string{"read", "write"}, nil},
		{"duplicates", "read read", false, nil, []string{"read"}, nil},
		{"unknown", "read delete", false, nil, nil, ErrInvalidScope},
		{"wildcard allowed", "*", true, nil, []string{"*"}, nil},
		{"wildcard refused", "*", false, nil, nil, ErrInvalidScope},
		{"wildcard with client restriction", "*", true, []string{"read"}, nil, ErrInvalidScope},
		{"within client's", "read", false, []string{"read"}, []string{"read"}, nil},
		{"outside client's", "write", false, []string{"read"}, nil, ErrInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Resolve(ParseScope(tt.requested), tt.wildcard, tt.allowed)
			if !errors.Is(err, tt.wantErr) || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	for _, bad := range [][]Scope{{{"", ""}}, {{"a b", ""}}, {{"*", ""}}, {{"a", ""}, {"a", ""}}} {
		if _, err := NewScopes(bad, nil); err == nil {
			t.Errorf("NewScopes(%v): got nil; want an error", bad)
		}
	}
	if _, err := NewScopes([]Scope{{"a", ""}}, []string{"b"}); err == nil {
		t.Errorf("unknown default: got nil; want an error")
	}
	if !ScopesAllow([]string{"*"}, "x") || ScopesAllow([]string{"a"}, "x") {
		t.Errorf("ScopesAllow is wrong")
	}
}
