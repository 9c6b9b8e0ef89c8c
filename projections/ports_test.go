package projections

import "github.com/stamp-oauth/stamp/domain"

// The Store is every read port the domain Service consumes.
var (
	_ domain.ClientReader = (*Store)(nil)
	_ domain.ClientLister = (*Store)(nil)
	_ domain.TokenReader  = (*Store)(nil)
	_ domain.KeyReader    = (*Store)(nil)
	_ domain.UserReader   = (*Store)(nil)
	_ domain.GrantReader  = (*Store)(nil)
)
