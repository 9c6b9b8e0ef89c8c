package domain

import (
	"context"
	"errors"
)

// AuthenticateClient checks presented credentials against the clients read
// model (RFC 6749 §2.3): every client-authenticated endpoint (token,
// introspection, revocation, device authorization) goes through it. A
// confidential client must present its secret; a public client presents
// its id alone. Any failure is ErrInvalidClient with the same description,
// so an answer never tells whether the client exists.
//
// Failures are counted (Limits) per address (cred.Remote) and per client
// id. An address whose failures are spent is refused before its
// credentials are checked; a failure for a client id whose failures are
// spent is answered as limited too, but a correct secret is never
// refused because of others' failures with its id. Both refusals are a
// *RetryError wrapping ErrRateLimited. Credentials the read model refuses
// are checked again after catching up with the log (see Freshness), so a
// client registered through another instance authenticates at once.
func (s *Service) AuthenticateClient(ctx context.Context, cred ClientCredentials) (Client, error) {
	addr := limitKey{s.cfg.Limits.ClientAddress, addressKey(cred.Remote)}
	if err := s.limited(ctx, addr); err != nil {
		return Client{}, err
	}
	c, err := s.checkClient(ctx, cred)
	if errors.Is(err, ErrInvalidClient) && ValidID(cred.ID) && !s.isCaughtUp(ctx) {
		// Registered, or its secret regenerated, through another
		// instance? Refuse only what the whole log refuses (Freshness).
		fresh, ferr := s.catchUp(ctx)
		if ferr != nil {
			return Client{}, ferr
		}
		c, err = s.checkClient(fresh, cred)
	}
	if !errors.Is(err, ErrInvalidClient) {
		return c, err
	}
	keys := []limitKey{addr}
	if ValidID(cred.ID) { // an id that is none cannot fill the limiter
		keys = append(keys, limitKey{s.cfg.Limits.Client, cred.ID})
	}
	spent := s.limited(ctx, keys[1:]...) // before this failure counts
	if ferr := s.failed(ctx, keys...); ferr != nil {
		return Client{}, ferr
	}
	if spent != nil {
		return Client{}, spent
	}
	return Client{}, err
}

// checkClient checks presented credentials against the clients read
// model (RFC 6749 §2.3); AuthenticateClient limits it. See
// decideClientAuthentication.
func (s *Service) checkClient(ctx context.Context, cred ClientCredentials) (Client, error) {
	if !ValidID(cred.ID) {
		return decideClientAuthentication(Client{}, false, cred)
	}
	c, err := s.ports.Clients.Client(ctx, cred.ID)
	if errors.Is(err, ErrNotFound) {
		return decideClientAuthentication(Client{}, false, cred)
	}
	if err != nil {
		return Client{}, err
	}
	return decideClientAuthentication(c, true, cred)
}

// decideClientAuthentication decides whether cred authenticates the
// client c (found: the read model knows cred.ID): a confidential client
// must present its secret; a public client presents its id alone. Any
// failure is ErrInvalidClient with the same description, so an answer
// never tells whether the client exists; an unknown client costs the
// same secret comparison as a known one.
func decideClientAuthentication(c Client, found bool, cred ClientCredentials) (Client, error) {
	fail := ErrInvalidClient.WithDescription("client authentication failed")
	if !ValidID(cred.ID) {
		return Client{}, fail
	}
	if !found {
		SecretMatches(cred.Secret, "") // spend the same time as a found client
		return Client{}, fail
	}
	if !c.Exists() {
		return Client{}, fail
	}
	if c.Confidential() {
		if cred.Secret == "" || !SecretMatches(cred.Secret, c.SecretHash) {
			return Client{}, fail
		}
	} else if cred.Secret != "" {
		return Client{}, fail
	}
	return c, nil
}
