package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/httpapi"
	"github.com/stamp-oauth/stamp/projections"
)

// httpLogKeys turns what the store knows of log signing into the keys the
// HTTP API serves.
func httpLogKeys(ls eventstore.LogSigning) []httpapi.LogKey {
	out := make([]httpapi.LogKey, 0, len(ls.Keys))
	for kid, pub := range ls.Keys {
		out = append(out, httpapi.LogKey{KeyID: kid, PublicKey: domain.EncodeLogPublicKey(pub), AdoptedAt: ls.AdoptedAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KeyID < out[j].KeyID })
	return out
}

// Parked returns the events the node's read models parked instead of
// applying (a newer version, malformed, refused by the log's signature
// check), in stream order: what a status or readiness report shows. The
// node keeps serving with them; see README "Parked events".
func (n *Node) Parked() ([]projections.ParkedEvent, error) { return n.runner.Parked() }

// parkedSubject is the control subject on which a node answers with its
// read models' parked events (stamp listeners asks it).
func parkedSubject(instance string) string { return "stampctl." + instance + ".parked" }

// serveParked answers parked-event requests on the node's control subject.
func (n *Node) serveParked() (stop func(), err error) {
	return n.store.Serve(parkedSubject(n.instance), func([]byte) []byte {
		parked, err := n.Parked()
		reply := parkedReply{Parked: parked}
		if err != nil {
			reply = parkedReply{Error: err.Error()}
		}
		b, _ := json.Marshal(reply)
		return b
	})
}

// parkedReply answers a parked-event request.
type parkedReply struct {
	Parked []projections.ParkedEvent `json:"parked"`
	Error  string                    `json:"error,omitempty"`
}

// readModelParked asks the running server (serve.json) for its read
// models' parked events, or, with no server, reads them from the read
// models on the data directory.
func readModelParked(ctx context.Context, c Config, l *cliLog) ([]projections.ParkedEvent, error) {
	if info, err := readServeInfo(c); err == nil && info.Instance != "" {
		if resp, err := l.Request(ctx, parkedSubject(info.Instance), []byte("{}")); err == nil {
			var r parkedReply
			if err := json.Unmarshal(resp, &r); err != nil {
				return nil, fmt.Errorf("the server's parked events: %w", err)
			}
			if r.Error != "" {
				return nil, fmt.Errorf("the server's parked events: %s", r.Error)
			}
			return r.Parked, nil
		}
	}
	if _, err := os.Stat(projectionsDir(c)); errors.Is(err, fs.ErrNotExist) {
		return []projections.ParkedEvent{}, nil
	}
	views, err := projections.Open(projectionsDir(c), projections.Options{})
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	defer views.Close()
	return views.Parked()
}
