package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/projections"
)

// One aggregate of a sharded kind (a token, a refresh family, a code, a
// device code) has no subject of its own (see domain.Aggregate): `stamp
// audit token` and `stamp events --token` find its events through the read
// models' event index, then read them with direct gets. The running
// server answers from its read models on its control subject; with no
// server, the command opens the read models on the data directory and
// reads the log after their checkpoint; with neither, it scans the log.

// eventsSubject is the control subject on which a node answers with the
// stream sequences of one aggregate's events (eventsRequest).
func eventsSubject(instance string) string { return "stampctl." + instance + ".events" }

type eventsRequest struct {
	Aggregate string `json:"aggregate"` // kind/id
}

type eventsReply struct {
	Seqs  []uint64 `json:"seqs"`
	Error string   `json:"error,omitempty"`
}

// serveEvents answers eventsRequests on the node's control subject, from
// read models caught up with the stream as it ended when the request came.
func (n *Node) serveEvents() (stop func(), err error) {
	log := indexedLog{Store: n.store, views: n.views, runner: n.runner, wait: time.Duration(n.cfg.ProjectionWaitTimeout)}
	return n.store.Serve(eventsSubject(n.instance), func(req []byte) []byte {
		var r eventsRequest
		reply := eventsReply{}
		agg, ok := domain.Aggregate{}, false
		if json.Unmarshal(req, &r) == nil {
			agg, ok = domain.ParseAggregate(r.Aggregate)
		}
		if !ok || !agg.Sharded() {
			reply.Error = fmt.Sprintf("not an aggregate of a sharded kind: %q", r.Aggregate)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if last, err := n.store.LastSeq(ctx); err != nil {
				reply.Error = err.Error()
			} else if err := log.runner.WaitFor(ctx, last); err != nil {
				reply.Error = err.Error()
			} else if reply.Seqs, err = n.views.EventSeqs(ctx, agg); err != nil {
				reply.Error = err.Error()
			}
		}
		b, _ := json.Marshal(reply)
		return b
	})
}

// idField names the data field that holds the id of an aggregate of each
// sharded kind.
var idField = map[string]string{
	domain.KindToken: "token_id", domain.KindRefresh: "family_id",
	domain.KindCode: "code_id", domain.KindDevice: "device_code_id",
}

// indexedEvents returns the events of agg, an aggregate of a sharded kind,
// through the event index of the running server or of the read models on
// the data directory, and the sequence up to which they are complete (the
// stream's end as the server or the read models knew it). ok is false when
// there is no index to ask: the caller scans the log.
func indexedEvents(ctx context.Context, c Config, l *cliLog, agg domain.Aggregate) (recs []domain.Recorded, upTo uint64, ok bool, err error) {
	if info, err := readServeInfo(c); err == nil && info.Instance != "" {
		body, _ := json.Marshal(eventsRequest{Aggregate: agg.String()})
		if resp, err := l.Request(ctx, eventsSubject(info.Instance), body); err == nil {
			var r eventsReply
			if err := json.Unmarshal(resp, &r); err != nil {
				return nil, 0, false, fmt.Errorf("the server's event index: %w", err)
			}
			if r.Error != "" {
				return nil, 0, false, fmt.Errorf("the server's event index: %s", r.Error)
			}
			last, err := l.LastSeq(ctx)
			if err != nil {
				return nil, 0, false, err
			}
			recs, err := l.Get(ctx, r.Seqs)
			return recs, last, true, err
		}
	}
	if _, err := os.Stat(projectionsDir(c)); errors.Is(err, fs.ErrNotExist) {
		return nil, 0, false, nil
	}
	views, err := projections.Open(projectionsDir(c), projections.Options{})
	if err != nil {
		return nil, 0, false, nil // in use or damaged: scan the log instead
	}
	defer views.Close()
	seqs, err := views.EventSeqs(ctx, agg)
	if err != nil {
		return nil, 0, false, err
	}
	if recs, err = l.Get(ctx, seqs); err != nil {
		return nil, 0, false, err
	}
	// The log may have grown since the read models last applied it (a
	// command appends without them): read the rest of the kind.
	from := views.Checkpoint() + 1
	err = l.Replay(ctx, from, domain.SubjectRoot+"."+agg.Kind+".>", func(r domain.Recorded) error {
		if domain.DataField(r.Envelope.Data, idField[agg.Kind]) == agg.ID {
			recs = append(recs, r)
		}
		upTo = r.Seq
		return nil
	})
	if err != nil {
		return nil, 0, false, err
	}
	return recs, max(upTo, from-1), true, nil
}

// tokenAuditRecords returns what domain.AuditToken needs about the access
// token jti, read through the event index: the token's events, its
// client's and the signing keys'. ok is false when there is no index.
func tokenAuditRecords(ctx context.Context, c Config, l *cliLog, jti string) (recs []domain.Recorded, ok bool, err error) {
	recs, _, ok, err = indexedEvents(ctx, c, l, domain.Aggregate{Kind: domain.KindToken, ID: jti})
	if err != nil || !ok {
		return nil, ok, err
	}
	clients := map[string]bool{}
	for _, r := range recs {
		if id := domain.DataField(r.Envelope.Data, "client_id"); id != "" && domain.ValidID(id) && !clients[id] {
			clients[id] = true
			more, err := l.Load(ctx, domain.Aggregate{Kind: domain.KindClient, ID: id})
			if err != nil {
				return nil, false, err
			}
			recs = append(recs, more...)
		}
	}
	err = l.Replay(ctx, 0, domain.SubjectRoot+"."+domain.KindKey+".>", func(r domain.Recorded) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	slices.SortFunc(recs, func(a, b domain.Recorded) int { return cmp.Compare(a.Seq, b.Seq) })
	return recs, true, nil
}
