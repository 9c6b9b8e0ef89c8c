package eventstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

func TestUnavailableMapsTransientNATSErrors(t *testing.T) {
	transientErrs := map[string]error{
		"no responders":                   nats.ErrNoResponders,
		"no response from stream":         jetstream.ErrNoStreamResponse,
		"timeout":                         nats.ErrTimeout,
		"connection closed":               nats.ErrConnectionClosed,
		"reconnecting":                    nats.ErrConnectionReconnecting,
		"disconnected":                    nats.ErrDisconnected,
		"no servers":                      nats.ErrNoServers,
		"no heartbeat":                    jetstream.ErrNoHeartbeat,
		"leadership changed":              jetstream.ErrConsumerLeadershipChanged,
		"server shutdown":                 jetstream.ErrServerShutdown,
		"jetstream not enabled":           jetstream.ErrJetStreamNotEnabled,
		"temporarily unavailable (10008)": &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"},
		"cannot handle request (10009)":   &jetstream.APIError{Code: 500, ErrorCode: 10009, Description: "JetStream cluster can not handle request"},
		"stream offline (10118)":          &jetstream.APIError{Code: 500, ErrorCode: 10118, Description: "stream is offline"},
		"no suitable peers (10005)":       &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement"},
		"any 503":                         &jetstream.APIError{Code: 503, ErrorCode: 1, Description: "unavailable"},
	}
	for name, natsErr := range transientErrs {
		t.Run(name, func(t *testing.T) {
			err := unavailable(fmt.Errorf("eventstore: append stamp.client.c1.>: %w", natsErr))
			if !errors.Is(err, domain.ErrTemporarilyUnavailable) {
				t.Errorf("errors.Is(%v, ErrTemporarilyUnavailable) = false; want true", err)
			}
			if !errors.Is(err, natsErr) {
				t.Errorf("errors.Is(%v, the NATS error) = false; want true", err)
			}
			retry, ok := errors.AsType[*domain.RetryError](err)
			if !ok || retry.After != UnavailableRetryAfter {
				t.Errorf("RetryError of %v = %v, %v; want After %v", err, retry, ok, UnavailableRetryAfter)
			}
			if again := unavailable(err); again != err {
				t.Errorf("unavailable of a mapped error = %v; want it unchanged", again)
			}
		})
	}
	for name, other := range map[string]error{
		"nil":                            nil,
		"conflict":                       fmt.Errorf("eventstore: append: %w", domain.ErrConflict),
		"wrong last seq":                 &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence},
		"stream not found":               jetstream.ErrStreamNotFound,
		"replicas not supported (10074)": &jetstream.APIError{Code: 500, ErrorCode: 10074, Description: "replicas > 1 not supported in non-clustered mode"},
		"context canceled":               context.Canceled,
		"deadline exceeded":              context.DeadlineExceeded,
		"closed store":                   ErrClosed,
		"anything else":                  io.ErrUnexpectedEOF,
	} {
		t.Run("not "+name, func(t *testing.T) {
			if got := unavailable(other); got != other {
				t.Errorf("unavailable(%v) = %v; want it unchanged", other, got)
			}
		})
	}
}

// TestAppendWithoutServerIsUnavailable: with the JetStream server
// gone, an append retries until its deadline and then answers a
// RetryError matching domain.ErrTemporarilyUnavailable, not a bare NATS
// error.
func TestAppendWithoutServerIsUnavailable(t *testing.T) {
	srv := startServer(t, ServerOptions{Port: -1})
	ctx := testContext(t)
	st, err := Open(ctx, Options{URL: srv.ClientURL(), NkeySeedFile: srv.SeedFile(RoleWriter), DisableGroupCommit: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(st.Close)
	srv.Shutdown()
	actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err = st.Append(actx, domain.Aggregate{Kind: "client", ID: "c1"}, domain.ExpectAny, env("e1", "ClientRegistered"))
	if _, ok := errors.AsType[*domain.RetryError](err); !ok || !errors.Is(err, domain.ErrTemporarilyUnavailable) {
		t.Fatalf("Append without a server = %v; want a RetryError matching ErrTemporarilyUnavailable", err)
	}
	lctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := st.LastSeq(lctx); !errors.Is(err, domain.ErrTemporarilyUnavailable) {
		t.Fatalf("LastSeq without a server = %v; want ErrTemporarilyUnavailable", err)
	}
}
