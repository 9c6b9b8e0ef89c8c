package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// One issuer per cluster. Every token carries the issuer in "iss", and an
// instance treats a token of another issuer as invalid: it introspects as
// inactive, and revoking it answers 200 (RFC 7009 §2.2) and records
// nothing. So the instances sharing a stream must share the issuer:
//
//   - With --nats-url the issuer must be set explicitly: the default,
//     http://<http-addr>, differs from instance to instance.
//   - The issuer is announced in the log (ServerConfigured). With
//     --nats-url an instance configured with another issuer than the one
//     announced refuses to start and names both; `stamp serve --reissue`
//     changes the cluster's issuer on purpose.
//   - Scopes, default scopes and lifetimes may differ during a rolling
//     change: the instance announces its own and warns; the last
//     announcement is what the CLI acts on.
//   - A running instance that sees another issuer announced (after a
//     --reissue elsewhere) logs it at error level until it is restarted.
//   - The embedded mode (one instance) announces a changed issuer and warns
//     that tokens issued under the old one are no longer valid.

// requireClusterIssuer refuses a cluster instance (--nats-url) whose
// issuer was not set but derived from its HTTP address.
func requireClusterIssuer(c Config) error {
	if c.NATSURL == "" || c.derivedIssuer == "" || c.Issuer != c.derivedIssuer {
		return nil
	}
	return fmt.Errorf("config: issuer: must be set with nats_url (--issuer or STAMP_ISSUER, the public base URL, the same on every instance): "+
		"the default %s comes from this instance's http_addr, and instances with different issuers reject each other's tokens", c.Issuer)
}

// announceSettings announces c's settings in the log unless they are the
// last announced, refusing (with --nats-url, without --reissue) another
// issuer than the cluster's, and logs what changed.
func announceSettings(ctx context.Context, svc *domain.Service, c Config, logger *slog.Logger) error {
	cluster := c.NATSURL != ""
	here := settingsOf(c)
	change, err := svc.ChangeSettings(ctx, domain.Actor{Kind: domain.ActorSystem}, here, cluster && !c.Reissue)
	var mismatch *domain.IssuerMismatchError
	if errors.As(err, &mismatch) {
		return fmt.Errorf("config: issuer: this instance's issuer %s differs from the cluster's issuer %s (announced in the log): "+
			"set --issuer or STAMP_ISSUER to %s, as on every other instance; to change the cluster's issuer on purpose, "+
			"start one instance with the new issuer and 'stamp serve --reissue', then restart every other instance with it "+
			"(tokens issued under %s stop being valid)", mismatch.Here, mismatch.Announced, mismatch.Announced, mismatch.Announced)
	}
	if err != nil {
		return err
	}
	if !change.Appended || !change.HadPrevious {
		return nil
	}
	prev := change.Previous
	if prev.Issuer != here.Issuer {
		logger.Warn("the issuer changed and is announced: tokens issued under the old issuer are no longer valid", "old", prev.Issuer, "new", here.Issuer)
		prev.Issuer = here.Issuer
	}
	diff := settingsDiff(here, prev)
	switch {
	case len(diff) == 0:
	case cluster:
		logger.Warn("these settings differ from the ones the cluster last announced; announced them (every instance should run with the same)",
			"announced_before", strings.Join(diff, "; "))
	default:
		logger.Info("announced changed settings", "before", strings.Join(diff, "; "))
	}
	return nil
}

// watchIssuer follows the settings announcements from sequence from and
// logs at error level each one that names another issuer than this
// node's: after `stamp serve --reissue` on another instance, this one
// still signs and checks tokens with its own issuer until it restarts
// with the new one.
func (n *Node) watchIssuer(ctx context.Context, from uint64) {
	filter := domain.SubjectRoot + "." + domain.KindServer + ".>"
	err := n.store.Read(ctx, eventstore.ReadOptions{From: from, Filter: filter, Follow: true}, func(r domain.Recorded) error {
		e, err := domain.Decode(r.Envelope)
		if c, ok := e.(domain.ServerConfigured); err == nil && ok && c.Issuer != n.cfg.Issuer {
			n.logger.Error("the cluster's issuer changed; this instance still issues and accepts only its own issuer's tokens: restart it with the new issuer",
				"cluster_issuer", c.Issuer, "issuer", n.cfg.Issuer, "seq", r.Seq)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		n.logger.Warn("issuer watcher stopped", "err", err)
	}
}
