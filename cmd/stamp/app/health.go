package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/httpapi"
	"github.com/stamp-oauth/stamp/projections"
)

// healthEvery is how often the node re-checks whether its read models are
// fresh (the gate of introspection and token validation).
const healthEvery = time.Second

// health implements httpapi.Health for a Node: the NATS connection, the
// lag of the read models behind the stream, the watchdog's stalled
// consumers, the projection runner, and parked events that block an
// aggregate. Safe for concurrent use.
type health struct {
	store  *eventstore.Store
	runner *projections.Runner
	maxLag uint64
	logger *slog.Logger
	// lagGates makes a read-model lag above maxLag close the gate of
	// introspection and token checks (read_consistency local). With
	// strong consistency each such answer catches up with the stream
	// first (or answers 503), so the lag only makes the node not ready.
	lagGates bool

	fresh atomic.Bool // as of the last refresh
}

var _ httpapi.Health = (*health)(nil)

func newHealth(store *eventstore.Store, runner *projections.Runner, maxLag int, lagGates bool, logger *slog.Logger) *health {
	return &health{store: store, runner: runner, maxLag: uint64(maxLag), lagGates: lagGates, logger: logger}
}

// Fresh is httpapi.Health's: the connection as of now, the rest as of the
// last refresh (at most healthEvery ago).
func (h *health) Fresh() bool { return h.store.Connected() && h.fresh.Load() }

// run refreshes Fresh every healthEvery until ctx ends, logging each
// change at warn (not fresh: answers fail closed) or info level.
func (h *health) run(ctx context.Context) {
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		h.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh recomputes Fresh.
func (h *health) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, healthEvery)
	defer cancel()
	checks, gate := h.freshness(ctx)
	h.record(checks, gate, ctx.Err() == nil)
}

// record sets Fresh to gate, logging a change, with the failing checks as
// the reasons, when log is set.
func (h *health) record(checks []httpapi.HealthCheck, gate, log bool) {
	if was := h.fresh.Swap(gate); was != gate && log {
		if gate {
			h.logger.Info("read models are current again; introspection and token checks answer")
			return
		}
		var reasons []string
		for _, c := range checks {
			if !c.OK {
				reasons = append(reasons, c.Name+": "+c.Reason)
			}
		}
		h.logger.Warn("read models are not current; introspection and token checks answer 503", "reasons", strings.Join(reasons, "; "))
	}
}

// freshness are the checks Fresh depends on — NATS, the stream, the read
// models' lag and runner, stalled consumers — and the gate they make: all
// of them, but a lag alone closes it only when lagGates.
func (h *health) freshness(ctx context.Context) (checks []httpapi.HealthCheck, gate bool) {
	checks = make([]httpapi.HealthCheck, 0, 4)
	connected := h.store.Connected()
	checks = append(checks, check("nats", connected, "not connected to NATS"))
	var last uint64
	var err error
	if connected {
		last, err = h.store.LastSeq(ctx)
	} else {
		err = fmt.Errorf("NATS is unreachable")
	}
	if err != nil {
		checks = append(checks, httpapi.HealthCheck{Name: "stream", Reason: "cannot read the stream's last sequence: " + err.Error()})
		checks = append(checks, httpapi.HealthCheck{Name: "read_models", Reason: fmt.Sprintf("applied %d; the stream's last sequence is unknown", h.runner.Applied())})
	} else {
		applied := h.runner.Applied()
		lag := uint64(0)
		if last > applied {
			lag = last - applied
		}
		checks = append(checks, httpapi.HealthCheck{Name: "stream", OK: true, Reason: fmt.Sprintf("last sequence %d", last)})
		c := httpapi.HealthCheck{Name: "read_models", OK: lag <= h.maxLag && h.runner.Running(),
			Reason: fmt.Sprintf("applied %d, %d behind (bound %d)", applied, lag, h.maxLag)}
		if !h.runner.Running() {
			c.Reason = "the projection runner stopped (see the error log); " + c.Reason
		}
		checks = append(checks, c)
		gate = h.runner.Running() && (c.OK || !h.lagGates)
	}
	ws := h.store.Watchdog()
	c := httpapi.HealthCheck{Name: "consumers", OK: len(ws.Stalled) == 0,
		Reason: fmt.Sprintf("%d following, %d recreated by the watchdog", ws.Followers, ws.Recreated)}
	if len(ws.Stalled) > 0 {
		c.Reason = "stalled: " + strings.Join(ws.Stalled, ", ") + "; " + c.Reason
	}
	return append(checks, c), connected && gate && c.OK
}

// Ready is httpapi.Health's: the freshness checks, run now, and whether a
// parked event blocks an aggregate.
func (h *health) Ready(ctx context.Context) []httpapi.HealthCheck {
	checks, gate := h.freshness(ctx)
	h.record(checks, gate, ctx.Err() == nil)
	parked, err := h.runner.Parked()
	c := httpapi.HealthCheck{Name: "parked", OK: err == nil}
	switch {
	case err != nil:
		c.Reason = "cannot list parked events: " + err.Error()
	default:
		blocking := 0
		for _, p := range parked {
			if p.Blocks {
				if blocking == 0 {
					c.Reason = fmt.Sprintf("event %d (%s) blocks its aggregate: upgrade stamp, then run stamp replay", p.Seq, p.Subject)
				}
				blocking++
			}
		}
		c.OK = blocking == 0
		if c.OK {
			c.Reason = fmt.Sprintf("%d parked, none blocking", len(parked))
		}
	}
	return append(checks, c)
}

func check(name string, ok bool, reason string) httpapi.HealthCheck {
	if ok {
		return httpapi.HealthCheck{Name: name, OK: true}
	}
	return httpapi.HealthCheck{Name: name, Reason: reason}
}
