package domain

import (
	"context"
	"fmt"
)

// ClientByID returns a live client, after catching up with the log (see
// Freshness); ErrNotFound for an unknown or deleted one. The admin API
// reads clients with it.
func (s *Service) ClientByID(ctx context.Context, clientID string) (Client, error) {
	if !ValidID(clientID) {
		return Client{}, fmt.Errorf("domain: client %q: %w", clientID, ErrNotFound)
	}
	ctx, err := s.catchUp(ctx)
	if err != nil {
		return Client{}, err
	}
	c, err := s.ports.Clients.Client(ctx, clientID)
	if err != nil {
		return Client{}, err
	}
	if !c.Exists() {
		return Client{}, fmt.Errorf("domain: client %q: %w", clientID, ErrNotFound)
	}
	return c, nil
}

// adminScopeDescription describes AdminScope in a catalogue that does not
// list it.
const adminScopeDescription = "Manage users, clients and tokens through the admin API (granted to a client only by name)"

// WithAdminScope returns list with AdminScope appended when list lacks it:
// every catalogue has the admin scope, so a client can be given it by name
// (`stamp client create --client --scopes admin`); Resolve, ScopesAllow
// and NewScopes keep it from being granted any other way. list is not
// changed.
func WithAdminScope(list []Scope) []Scope {
	for _, s := range list {
		if s.ID == AdminScope {
			return list
		}
	}
	return append(append([]Scope(nil), list...), Scope{ID: AdminScope, Description: adminScopeDescription})
}
