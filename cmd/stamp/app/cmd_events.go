package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/clilog"
	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// eventLine is how the CLI prints one event: the same shape the webhook
// listener posts.
type eventLine struct {
	Seq     uint64          `json:"seq"`
	Subject string          `json:"subject"`
	Event   domain.Envelope `json:"event"`
}

// cmdEvents tails the stream as JSON lines, filtered by event type,
// client, user or token, from a sequence or a time.
func cmdEvents(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	types := fs.String("type", "", "only these event types, comma-separated")
	client := fs.String("client", "", "only events about this client (its own and its tokens')")
	user := fs.String("user", "", "only events about this user")
	token := fs.String("token", "", "only events about this access token (jti)")
	since := fs.String("since", "", "start at a time: a duration ago (2h) or RFC 3339 (2026-01-01T00:00:00Z)")
	from := fs.Uint64("from", 0, "start at this stream sequence")
	noFollow := fs.Bool("no-follow", false, "stop at the end of the stream instead of waiting for new events")
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	ro := eventstore.ReadOptions{From: *from, Follow: !*noFollow}
	if *since != "" {
		if *from != 0 {
			return usageErrorf("--since and --from are exclusive")
		}
		if ro.Since, err = clilog.ParseMoment(*since, time.Now()); err != nil {
			return usageErrorf("--since: %v", err)
		}
	}
	wantTypes := splitList(*types)
	for _, t := range wantTypes {
		if !clilog.KnownType(t) {
			return usageErrorf("--type: unknown event type %q (known: %s)", t, strings.Join(domain.EventTypes(), ", "))
		}
	}
	for name, id := range map[string]string{"client": *client, "user": *user, "token": *token} {
		if id != "" && !domain.ValidID(id) {
			return usageErrorf("--%s: %q is not a valid id", name, id)
		}
	}
	switch {
	case *token != "":
		// A token has no subject of its own: its events are found
		// through the event index below, or by its id in the data.
		ro.Filter = domain.SubjectRoot + "." + domain.KindToken + ".>"
	case len(wantTypes) == 1:
		ro.Filter = domain.SubjectRoot + ".*.*." + wantTypes[0]
	}
	logger := newLogger(c, io.Stderr)
	l, err := openCLILog(ctx, c, logger)
	if err != nil {
		return err
	}
	defer l.Close()
	enc := json.NewEncoder(io.Stdout)
	rv := clilog.Revealer{Keys: l.keys}
	filter := clilog.Filter{Types: wantTypes, Client: *client, User: *user}
	emit := func(r domain.Recorded) error {
		if r.Refused != "" { // never printed as an event: see stamp verify
			logger.Error("refused event skipped", "seq", r.Seq, "subject", r.Subject, "reason", r.Refused)
			return nil
		}
		if !filter.Match(r) || *token != "" && domain.DataField(r.Envelope.Data, "token_id") != *token {
			return nil
		}
		if r, err = rv.Reveal(ctx, r); err != nil {
			return err
		}
		return enc.Encode(eventLine{Seq: r.Seq, Subject: r.Subject, Event: r.Envelope})
	}
	if *token != "" {
		// Fast: the token's events through the event index, then the
		// stream after the point the index covered (token_history.go).
		recs, upTo, ok, err := indexedEvents(ctx, c, l, domain.Aggregate{Kind: domain.KindToken, ID: *token})
		if err != nil {
			return err
		}
		if ok {
			start := max(ro.From, 1)
			if !ro.Since.IsZero() {
				start = 0
			}
			for _, r := range recs {
				if r.Seq >= start && (ro.Since.IsZero() || !r.Envelope.Time.Before(ro.Since)) {
					if err := emit(r); err != nil {
						return err
					}
				}
			}
			ro.From, ro.Since = max(upTo+1, ro.From), time.Time{}
			if !ro.Follow {
				if last, err := l.LastSeq(ctx); err != nil || last < ro.From {
					return err
				}
			}
		}
	}
	err = l.Read(ctx, ro, emit)
	if ro.Follow && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
