package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/clilog"
	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/httpapi"
)

// nodeAdmin is what the admin API asks of the node (httpapi.Admin): the
// application service, and the audit, which replays the log as `stamp
// audit` does (a full replay per request: an audit is rare and
// server-to-server).
type nodeAdmin struct {
	*domain.Service
	store *eventstore.Store
	keys  clilog.KeyReader
}

var _ httpapi.Admin = nodeAdmin{}

// Audit answers `stamp audit user|client ID --json` as of now, without
// the secrets' hashes and sealed passwords the log holds; an id the log
// knows nothing about is domain.ErrNotFound.
func (a nodeAdmin) Audit(ctx context.Context, kind, id string) (domain.SubjectAudit, error) {
	var recs []domain.Recorded
	if err := a.store.Replay(ctx, 0, "", func(r domain.Recorded) error {
		if r.Refused == "" { // never part of an audit: see stamp verify
			recs = append(recs, r)
		}
		return nil
	}); err != nil {
		return domain.SubjectAudit{}, err
	}
	recs, err := clilog.Reveal(ctx, a.keys, recs)
	if err != nil {
		return domain.SubjectAudit{}, err
	}
	au, err := domain.AuditSubject(recs, kind, id, time.Now().UTC())
	if err != nil {
		return domain.SubjectAudit{}, err
	}
	if len(au.History) == 0 {
		return domain.SubjectAudit{}, fmt.Errorf("app: audit %s %q: %w", kind, id, domain.ErrNotFound)
	}
	if au.Client != nil {
		c := *au.Client
		c.SecretHash = ""
		au.Client = &c
	}
	if au.User != nil {
		u := *au.User
		u.PasswordSealed = ""
		au.User = &u
	}
	for i, h := range au.History {
		au.History[i].Data = withoutSecrets(h.Data)
	}
	return au, nil
}

// withoutSecrets returns an event's data without the fields that hold a
// secret's hash or a sealed password.
func withoutSecrets(data json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	changed := false
	for _, f := range []string{"secret_hash", "password_sealed"} {
		if _, ok := m[f]; ok {
			delete(m, f)
			changed = true
		}
	}
	if !changed {
		return data
	}
	out, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return out
}
