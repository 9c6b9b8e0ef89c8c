package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// startServer starts an embedded server on a fresh directory and a random
// port unless opts say otherwise, and shuts it down after the test.
func startServer(tb testing.TB, opts ServerOptions) *Server {
	tb.Helper()
	if opts.StoreDir == "" {
		opts.StoreDir = tb.TempDir()
	}
	if opts.Port == 0 {
		opts.Port = -1
	}
	srv, err := StartServer(opts, nil)
	if err != nil {
		tb.Fatalf("StartServer: %v", err)
	}
	tb.Cleanup(srv.Shutdown)
	return srv
}

// openStore opens a Store on srv in-process and closes it after the test.
func openStore(tb testing.TB, srv *Server) *Store {
	tb.Helper()
	st, err := Open(testContext(tb), Options{InProcess: srv})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(st.Close)
	return st
}

// testContext is cancelled when the test ends and bounds every call.
func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

var testTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// env returns an envelope of type typ with id id and a small body.
func env(id, typ string) domain.Envelope {
	return domain.Envelope{
		ID:      id,
		Type:    typ,
		Version: 1,
		Time:    testTime,
		Actor:   domain.Actor{Kind: domain.ActorSystem},
		Data:    json.RawMessage(fmt.Sprintf(`{"id":%q}`, id)),
	}
}

func token(id string) domain.Aggregate { return domain.Aggregate{Kind: domain.KindToken, ID: id} }

// ids lists the envelope ids of recs.
func ids(recs []domain.Recorded) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Envelope.ID
	}
	return out
}

// mustAppend appends and fails the test on error.
func mustAppend(tb testing.TB, st *Store, agg domain.Aggregate, expect domain.Expect, events ...domain.Envelope) uint64 {
	tb.Helper()
	seq, err := st.Append(testContext(tb), agg, expect, events...)
	if err != nil {
		tb.Fatalf("Append(%s): %v", agg, err)
	}
	return seq
}

// fmtID returns prefix followed by i.
func fmtID(prefix string, i int) string { return fmt.Sprintf("%s%d", prefix, i) }
