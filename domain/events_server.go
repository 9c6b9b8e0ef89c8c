package domain

import (
	"context"
	"errors"
	"slices"
	"time"
)

// KindServer is the aggregate kind of the server's own announcements,
// and ServerConfigID the one aggregate of its settings: ServerConfigured
// events go on stamp.server.config.ServerConfigured, one subject for
// the whole cluster.
const (
	KindServer     = "server"
	ServerConfigID = "config"
)

// ServerConfigured: a server started with these effective settings,
// different from the last ones announced. The CLI mints and validates
// with the last announced settings rather than its own environment's, so
// it never issues a token the server would not accept. It holds no
// secret.
type ServerConfigured struct {
	Issuer        string          `json:"issuer"`
	Scopes        []Scope         `json:"scopes"`
	DefaultScopes []string        `json:"default_scopes"`
	Lifetimes     ServerLifetimes `json:"lifetimes"`
}

// ServerLifetimes are a server's token lifetimes, in whole seconds.
type ServerLifetimes struct {
	AccessToken       int64 `json:"access_token"`
	ClientCredentials int64 `json:"client_credentials"`
	RefreshToken      int64 `json:"refresh_token"`
	PersonalAccess    int64 `json:"personal_access_token"`
}

func (ServerConfigured) EventType() string      { return "ServerConfigured" }
func (ServerConfigured) EventVersion() int      { return 1 }
func (ServerConfigured) AggregateOf() Aggregate { return Aggregate{KindServer, ServerConfigID} }

// Equal reports whether a and b are the same settings (a nil list equals
// an empty one).
func (a ServerConfigured) Equal(b ServerConfigured) bool {
	return a.Issuer == b.Issuer && slices.Equal(a.Scopes, b.Scopes) &&
		slices.Equal(a.DefaultScopes, b.DefaultScopes) && a.Lifetimes == b.Lifetimes
}

// Seconds returns d in whole seconds, as ServerLifetimes hold them.
func Seconds(d time.Duration) int64 { return int64(d / time.Second) }

// LastServerSettings returns the settings last announced in log, and
// false when none was.
func LastServerSettings(ctx context.Context, log EventLog) (ServerConfigured, bool, error) {
	s, err := load(ctx, log, Aggregate{KindServer, ServerConfigID}, applyServerSettings)
	if errors.Is(err, ErrNotFound) {
		return ServerConfigured{}, false, nil
	}
	if err != nil {
		return ServerConfigured{}, false, err
	}
	return s.settings, true, nil
}

// serverSettings is the state of the settings aggregate.
type serverSettings struct {
	settings ServerConfigured
	seq      uint64
}

func applyServerSettings(s serverSettings, e Event, seq uint64, _ time.Time) serverSettings {
	if c, ok := e.(ServerConfigured); ok {
		return serverSettings{settings: c, seq: seq}
	}
	return s
}

// AnnounceSettings appends ServerConfigured with settings unless they are
// the ones last announced, and reports whether it appended. It is
// ChangeSettings allowing any change, the issuer's too.
func (s *Service) AnnounceSettings(ctx context.Context, actor Actor, settings ServerConfigured) (bool, error) {
	change, err := s.ChangeSettings(ctx, actor, settings, false)
	return change.Appended, err
}
