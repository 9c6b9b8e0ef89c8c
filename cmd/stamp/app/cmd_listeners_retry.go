package app

import (
	"context"
	"flag"
	"fmt"

	"github.com/stamp-oauth/stamp/domain"
)

// retryReport is what `stamp listeners retry --json` prints.
type retryReport struct {
	Listener string   `json:"listener"`
	Events   []uint64 `json:"events"`
	// RequestSeq is the stream sequence of the ListenerRetryRequested.
	RequestSeq uint64 `json:"request_seq"`
}

// cmdListenersRetry asks the server to re-drive events a listener parked:
// the one at --event SEQ, or --all. It checks that they are parked, then
// appends ListenerRetryRequested, so the request is in the log (audited);
// the server running the listener re-drives them (listeners.Retrier) and
// clears those its handler takes. `stamp listeners` shows what stays
// parked.
func cmdListenersRetry(ctx context.Context, args []string, cio IO) error {
	fs := flag.NewFlagSet("listeners retry", flag.ContinueOnError)
	event := fs.Uint64("event", 0, "the stream sequence (SEQ in stamp listeners) of the parked event to handle again")
	all := fs.Bool("all", false, "handle again every event the listener parked")
	asJSON := fs.Bool("json", false, "print JSON")
	c, pos, err := parse(fs, args, cio)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *all == (*event != 0) {
		return usageErrorf("want: stamp listeners retry LISTENER (--event SEQ | --all)")
	}
	name := pos[0]
	if !domain.ValidID(name) {
		return usageErrorf("%q is not a listener name", name)
	}
	return withCLIService(ctx, c, cio, func(svc *domain.Service, l *cliLog) error {
		parked, err := l.Parked(ctx, name)
		if err != nil {
			return err
		}
		events := []uint64{}
		for _, p := range parked {
			if *all || p.Seq == *event {
				events = append(events, p.Seq)
			}
		}
		switch {
		case len(events) == 0 && *all:
			return fmt.Errorf("listener %q has no parked events (see stamp listeners)", name)
		case len(events) == 0:
			return fmt.Errorf("listener %q has no parked event at sequence %d (see stamp listeners)", name, *event)
		}
		seq, err := svc.RequestListenerRetry(ctx, domain.Actor{Kind: domain.ActorCLI}, name, *event, *all)
		if err != nil {
			return readable(err)
		}
		if *asJSON {
			return writeJSON(cio.Stdout, retryReport{Listener: name, Events: events, RequestSeq: seq})
		}
		fmt.Fprintf(cio.Stdout, "Retry of %d parked event(s) of %s requested (ListenerRetryRequested at sequence %d).\n", len(events), name, seq)
		fmt.Fprintln(cio.Stdout, "The server running the listener handles them again; stamp listeners shows those still parked.")
		return nil
	})
}
