package domain

import (
	"errors"
	"testing"
)

// Helpers of the given-state / when-command / then-events-or-error tables
// of the decisions (decide*).

// invalidField is a wanted error: a *ValidationError on that field.
type invalidField string

func (f invalidField) Error() string { return "a validation error on " + string(f) }

// errorMatches reports whether got is what want asks for: nil for nil, a
// *ValidationError on the field for an invalidField, else errors.Is.
func errorMatches(got, want error) bool {
	var f invalidField
	switch {
	case want == nil:
		return got == nil
	case errors.As(want, &f):
		v, ok := AsValidation(got)
		return ok && v.Field == string(f)
	}
	return errors.Is(got, want)
}

// checkErr fails t unless got matches want (errorMatches); it reports
// whether the decision succeeded, so the row goes on to its events.
func checkErr(t *testing.T, got, want error) bool {
	t.Helper()
	if !errorMatches(got, want) {
		t.Fatalf("got error %v; want %v", got, want)
	}
	return got == nil
}

// testScopes is the scope catalogue of the decision tables.
func testScopes(t *testing.T) *Scopes {
	t.Helper()
	s, err := NewScopes([]Scope{{"read", "Read your data"}, {"write", "Change your data"}}, []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// errAny is a wanted error where any will do.
var errAny = errors.New("any error")
