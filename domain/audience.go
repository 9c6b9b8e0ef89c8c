package domain

import (
	"encoding/json"
	"errors"
	"slices"
)

// Audience is a JWT "aud" claim (RFC 7519 §4.1.3) and the "aud" of an
// introspection answer (RFC 7662 §2.2): the recipients a token is meant
// for. It encodes as a single string when it holds one value (what stamp
// issued before resource indicators, and what most libraries expect) and
// as an array otherwise; it decodes from either.
type Audience []string

// MarshalJSON encodes one value as a string, none or several as an array.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string or an array of strings; null leaves the
// audience empty. Anything else is an error.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("domain: aud is neither a string nor an array of strings")
	}
	*a = list
	return nil
}

// Contains reports whether v is one of the audience's values (compared
// exactly, as RFC 7519 §4.1.3 asks of a recipient).
func (a Audience) Contains(v string) bool { return slices.Contains(a, v) }
