package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/stamp-oauth/stamp/domain"
)

// WebOriginRegistered reports whether a live client registered the web
// origin origin (compared exactly: an Origin header's value). It answers a
// CORS preflight of the token and revocation endpoints, which cannot name
// the client yet. Errors are the store's (closed, context), never
// domain.ErrNotFound: an unknown origin is false.
func (s *Store) WebOriginRegistered(ctx context.Context, origin string) (bool, error) {
	var c domain.Client
	err := s.lookup(ctx, clientsByOrigin, origin, ModelClients.idKey, &c)
	if errors.Is(err, domain.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("projections: client by web origin: %w", err)
	}
	return c.AllowsWebOrigin(origin), nil
}
