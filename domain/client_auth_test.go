package domain

import (
	"errors"
	"testing"
)

// TestDecideClientAuthentication: RFC 6749 §2.3 as a table: given the
// client the read model holds for the presented id (or none), when
// credentials are presented, then the client or invalid_client, one
// answer for every failure so it never tells whether the client exists.
func TestDecideClientAuthentication(t *testing.T) {
	const id = "0b8e1a52-8b0f-4a3e-9d7c-2f6f1c9d4e11"
	confidential := Client{ID: id, SecretHash: HashSecret("s3cret")}
	public := Client{ID: id}
	deleted := Client{ID: id, SecretHash: HashSecret("s3cret"), Deleted: true}
	tests := []struct {
		name   string
		client Client
		found  bool
		cred   ClientCredentials
		ok     bool
	}{
		{"§2.3.1: a confidential client with its secret", confidential, true, ClientCredentials{ID: id, Secret: "s3cret"}, true},
		{"§2.3.1: a wrong secret", confidential, true, ClientCredentials{ID: id, Secret: "s3cret!"}, false},
		{"§2.3.1: a confidential client without its secret", confidential, true, ClientCredentials{ID: id}, false},
		{"§2.1: a public client by its id alone", public, true, ClientCredentials{ID: id}, true},
		{"a public client presenting a secret", public, true, ClientCredentials{ID: id, Secret: "anything"}, false},
		{"an unknown client", Client{}, false, ClientCredentials{ID: id, Secret: "s3cret"}, false},
		{"a deleted client", deleted, true, ClientCredentials{ID: id, Secret: "s3cret"}, false},
		{"a malformed id", confidential, true, ClientCredentials{ID: "a.b>", Secret: "s3cret"}, false},
	}
	var first error
	for _, tt := range tests {
		c, err := decideClientAuthentication(tt.client, tt.found, tt.cred)
		if tt.ok {
			if err != nil || c.ID != id {
				t.Errorf("%s: got %+v, %v; want the client", tt.name, c, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidClient) || c.ID != "" {
			t.Errorf("%s: got %+v, %v; want invalid_client", tt.name, c, err)
			continue
		}
		if first == nil {
			first = err
		} else if err.Error() != first.Error() {
			t.Errorf("%s: got %q; want the same answer as every failure, %q", tt.name, err, first)
		}
	}
}
