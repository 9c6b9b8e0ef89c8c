package domain

import (
	"encoding/json"
	"io"
	"time"
)

// What a grant issues, decided without signing anything: the claims of
// the access token, the events that record it (and its refresh token),
// the response to give once the access token is signed. Everything here
// is pure: time and randomness are parameters. The issuer (mint.go) signs
// and records what these decide.

// issuerTerms are the server's side of every token a grant issues: the
// iss, the kid it will be signed with, and the configured lifetimes.
type issuerTerms struct {
	Issuer string
	// KeyID is the kid of the signer the shell will sign with ("" when
	// the service has none: signing then fails before anything is
	// recorded).
	KeyID string
	// AccessToken and RefreshToken are the lifetimes of user tokens
	// (Config.AccessToken, Config.RefreshToken).
	AccessToken  time.Duration
	RefreshToken time.Duration
}

// accessTerms are what a decision decides an access token grants.
type accessTerms struct {
	Client Client
	// UserID is the user the token acts for; "" for a client token (its
	// sub is then the client id).
	UserID string
	Grant  string
	Name   string
	Scopes []string
	// Resources are its RFC 8707 resources (decideResources); none: its
	// aud is the client id.
	Resources []string
	TTL       time.Duration
	// Ext are the token's extra claims (its "ext" claim), from a
	// delegated consent; nil for none.
	Ext json.RawMessage
}

// tokenSet is a decided token set: the claims to sign, the events that
// record the tokens, and the response, whose AccessToken the issuer fills
// in once it has signed Claims.
type tokenSet struct {
	Claims Claims
	Access AccessTokenCreated
	// Refresh is set when a refresh token is issued with the access
	// token; RefreshToken is its secret, which never enters the log.
	Refresh      *RefreshTokenCreated
	RefreshToken string
	Response     TokenResponse
}

// events returns the events that record s: its access token, then its
// refresh token if any.
func (s tokenSet) events() []Event {
	if s.Refresh != nil {
		return []Event{s.Access, *s.Refresh}
	}
	return []Event{s.Access}
}

// tokenDecision is what a token-endpoint decision decided: the events to
// record in one atomic append (Expect applying to the first) as Actor,
// and either the token set they record (Tokens, to sign and hand out) or
// the error to answer once they are recorded (Answer: reuse detection
// records, then refuses). A decision with no events and no tokens has
// nothing to do but answer Answer.
type tokenDecision struct {
	Events []Event
	Expect Expect
	Actor  Actor
	Tokens *tokenSet
	Answer error
}

// decideAccessToken decides an access token of terms at now (truncated
// to the second, as JWT times are): a random jti, its claims, and the
// AccessTokenCreated recording it. Its aud is terms.Resources, or the
// client id when there are none; its sub the user, or the client for a
// client token. Errors: reading rnd fails.
func decideAccessToken(is issuerTerms, terms accessTerms, now time.Time, rnd io.Reader) (Claims, AccessTokenCreated, error) {
	now = now.UTC().Truncate(time.Second)
	jti, err := NewID(rnd)
	if err != nil {
		return Claims{}, AccessTokenCreated{}, err
	}
	c := terms.Client
	sub := terms.UserID
	if sub == "" {
		sub = c.ID
	}
	exp := now.Add(terms.TTL)
	claims := Claims{
		Issuer: is.Issuer, Audience: audienceOf(c, terms.Resources), Subject: sub, ClientID: c.ID, ID: jti,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: exp.Unix(),
		Scopes: terms.Scopes, Scope: FormatScope(terms.Scopes), Ext: terms.Ext,
	}
	return claims, AccessTokenCreated{
		TokenID: jti, ClientID: c.ID, UserID: terms.UserID, Scopes: terms.Scopes, GrantType: terms.Grant, Name: terms.Name,
		KeyID: is.KeyID, IssuedAt: now, ExpiresAt: exp, Audience: terms.Resources,
	}, nil
}

// decideRefreshToken decides a refresh token for access, living ttl: a
// new family when family is empty, else the family's next token
// replacing parentID. It returns the secret and the event recording its
// hash. Errors: reading rnd fails.
func decideRefreshToken(family, parentID string, access AccessTokenCreated, ttl time.Duration, rnd io.Reader) (string, RefreshTokenCreated, error) {
	raw, err := NewSecret(rnd)
	if err != nil {
		return "", RefreshTokenCreated{}, err
	}
	id, err := NewID(rnd)
	if err != nil {
		return "", RefreshTokenCreated{}, err
	}
	if family == "" {
		family = id
	}
	return raw, RefreshTokenCreated{
		FamilyID: family, RefreshTokenID: id, ParentID: parentID, TokenHash: HashSecret(raw),
		AccessTokenID: access.TokenID, ClientID: access.ClientID, UserID: access.UserID, Scopes: access.Scopes,
		Resources: access.Audience, IssuedAt: access.IssuedAt, ExpiresAt: access.IssuedAt.Add(ttl),
	}, nil
}

// decideTokenSet decides an access token of terms and, when withRefresh,
// a new refresh family for it (bound to the same scopes and resources),
// with the RFC 6749 §5.1 response that hands them out.
func decideTokenSet(is issuerTerms, terms accessTerms, withRefresh bool, now time.Time, rnd io.Reader) (tokenSet, error) {
	claims, at, err := decideAccessToken(is, terms, now, rnd)
	if err != nil {
		return tokenSet{}, err
	}
	set := tokenSet{Claims: claims, Access: at, Response: TokenResponse{
		TokenType: "Bearer", ExpiresIn: int64(terms.TTL / time.Second), Scope: FormatScope(terms.Scopes),
	}}
	if withRefresh {
		raw, rc, err := decideRefreshToken("", "", at, is.RefreshToken, rnd)
		if err != nil {
			return tokenSet{}, err
		}
		set.Refresh, set.RefreshToken, set.Response.RefreshToken = &rc, raw, raw
	}
	return set, nil
}
