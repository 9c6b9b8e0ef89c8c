// Package replayctl is the control protocol of `stamp replay` against a
// running server. The server holds its read models open and must never
// serve from a closed one, so a CLI does not rebuild them itself: it asks
// the server over NATS core messaging, on Subject(instance) (the instance
// id is in serve.json; control subjects lie outside stamp.>, so the
// stream never stores them), and follows the progress the server
// publishes on Subject(instance) + ".progress".
//
// The exchange: the CLI subscribes to the progress subject, then sends a
// Request ("{}" asks for the default: from the newest read-model snapshot
// where there is one); the server answers an Ack at once (Started, or why
// not: one replay at a time, none while shutting down, a malformed
// request), then publishes a Status every Tick and once as the phase
// turns from "rebuild" to "swap", and last a Status with a Result. The
// CLI gives up after Silence without a report. The JSON shapes of
// Request, Ack, Status and Result are the wire format between a CLI and a
// server of possibly another release: fields are only ever added (a
// server of an older release ignores a Request's fields it does not
// know, and replays as it always did).
//
// The package speaks the protocol only: what a replay does (rebuild,
// check, swap) is the caller's function, and the messaging is reached
// through the small interfaces Responder and Requester. It imports no
// storage and no other part of stamp.
package replayctl

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Subject is the control subject of the node with instance id instance;
// progress goes to Subject(instance) + ".progress".
func Subject(instance string) string { return "stampctl." + instance + ".replay" }

// Tick is how often a server reports the progress of a replay, and
// Silence how long a CLI waits without a report before it gives up.
const (
	Tick    = 250 * time.Millisecond
	Silence = 30 * time.Second
)

// Phases of a replay, as in Status.Phase.
const (
	PhaseRebuild = "rebuild"
	PhaseSwap    = "swap"
	PhaseDone    = "done"
)

// Request asks a server to replay.
type Request struct {
	// FromScratch: rebuild from the first event, not from the newest
	// read-model snapshot.
	FromScratch bool `json:"from_scratch,omitempty"`
}

// Ack answers a replay request: the replay has started, or why not.
type Ack struct {
	Started bool   `json:"started"`
	Error   string `json:"error,omitempty"`
}

// Status is one progress report of a server's replay; the last has a
// Result.
type Status struct {
	Phase  string  `json:"phase"` // "rebuild", then "swap"
	Done   uint64  `json:"done"`
	Total  uint64  `json:"total"`
	Result *Result `json:"result,omitempty"`
}

// Result is the outcome of a replay.
type Result struct {
	// Events is how many events the rebuild applied, in Seconds.
	Events  uint64  `json:"events"`
	Seconds float64 `json:"seconds"`
	// Seq is the sequence at which the stores were compared; Checksum is
	// the rebuilt store's there, LiveChecksum the live one's ("" when there
	// was no live store to compare).
	Seq          uint64 `json:"seq"`
	Checksum     string `json:"checksum"`
	LiveChecksum string `json:"live_checksum,omitempty"`
	Error        string `json:"error,omitempty"`
	// Note tells what the operator should know of a sound replay: the
	// stream begins above sequence 1; where --force put the old models.
	Note string `json:"note,omitempty"`
	// FromSnapshot is the sequence of the read-model snapshot the rebuild
	// started from; 0: from the first event.
	FromSnapshot uint64 `json:"from_snapshot,omitempty"`
	// ByCheckpoint is how many of Events were accepted by their signed
	// log checkpoint's digest instead of their own signature.
	ByCheckpoint uint64 `json:"by_checkpoint,omitempty"`
}

// Drifted reports whether the live read models differed from the rebuild.
func (r Result) Drifted() bool { return r.LiveChecksum != "" && r.LiveChecksum != r.Checksum }

// Responder is the messaging a server answers on (eventstore.Store).
type Responder interface {
	Serve(subject string, fn func(req []byte) []byte) (stop func(), err error)
	Publish(subject string, msg []byte) error
}

// Reporter is what a replay tells the server while it runs: how far the
// rebuild is, and that it has begun to swap. Safe for concurrent use.
type Reporter interface {
	Progress(done, total uint64)
	Swapping()
}

// ReplayFunc runs one replay as req asks, reporting to r, until ctx ends.
// Its Result may be partial when it fails.
type ReplayFunc func(ctx context.Context, req Request, r Reporter) (Result, error)

// Server answers replay requests of one node: one replay at a time, run
// by its ReplayFunc, reported on the progress subject.
type Server struct {
	resp    Responder
	subject string
	replay  ReplayFunc
	logger  *slog.Logger
	stop    func()
	ctx     context.Context
	cancel  context.CancelFunc

	mu      sync.Mutex
	running bool
	wg      sync.WaitGroup
}

// Serve starts answering replay requests on Subject(instance). It fails
// when the subscription fails.
func Serve(resp Responder, instance string, replay ReplayFunc, logger *slog.Logger) (*Server, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{resp: resp, subject: Subject(instance), replay: replay, logger: logger, ctx: ctx, cancel: cancel}
	stop, err := resp.Serve(s.subject, s.handle)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("replayctl: serve replay requests: %w", err)
	}
	s.stop = stop
	return s, nil
}

// Close stops answering, cancels a replay in progress and waits for it to
// end (a swap under way completes or rolls back first). Safe on nil.
func (s *Server) Close() {
	if s == nil {
		return
	}
	s.stop()
	s.cancel()
	s.wg.Wait()
}

func (s *Server) handle(body []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	ack := Ack{Started: true}
	var req Request
	switch {
	case len(body) > 0 && json.Unmarshal(body, &req) != nil:
		ack = Ack{Error: "malformed replay request"}
	case s.running:
		ack = Ack{Error: "a replay is already running"}
	case s.ctx.Err() != nil:
		ack = Ack{Error: "the server is shutting down"}
	default:
		s.running = true
		s.wg.Add(1)
		go s.run(req)
	}
	b, _ := json.Marshal(ack)
	return b
}

// reporter keeps the status of the replay in progress.
type reporter struct {
	s  *Server
	mu sync.Mutex
	st Status
}

func (r *reporter) Progress(done, total uint64) {
	r.mu.Lock()
	r.st.Done, r.st.Total = done, total
	r.mu.Unlock()
}

func (r *reporter) Swapping() {
	r.mu.Lock()
	r.st.Phase, r.st.Done = PhaseSwap, r.st.Total
	st := r.st
	r.mu.Unlock()
	r.s.publish(st) // at once: the swap may take less than a tick
}

func (r *reporter) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

func (s *Server) publish(st Status) {
	b, _ := json.Marshal(st)
	if err := s.resp.Publish(s.subject+".progress", b); err != nil {
		s.logger.Debug("replay: report progress", "err", err)
	}
}

// run replays, reporting progress every Tick and the result last.
func (s *Server) run(req Request) {
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
		s.wg.Done()
	}()
	rep := &reporter{s: s, st: Status{Phase: PhaseRebuild}}
	ticking := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(Tick)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.publish(rep.status())
			case <-ticking:
				return
			}
		}
	}()

	s.logger.Info("replay: rebuilding the read models from the log")
	res, err := s.replay(s.ctx, req, rep)
	close(ticking)
	<-ticked
	if err != nil {
		res.Error = err.Error()
		s.logger.Error("replay failed", "err", err)
	} else {
		s.logger.Info("replay: swapped in the rebuilt read models", "events", res.Events, "seconds", res.Seconds,
			"seq", res.Seq, "checksum", res.Checksum, "drifted", res.Drifted(), "from_snapshot", res.FromSnapshot)
	}
	s.publish(Status{Phase: PhaseDone, Result: &res})
}

// Requester is the messaging a CLI asks and listens on (eventstore.Store).
type Requester interface {
	Subscribe(subject string, fn func(msg []byte)) (stop func(), err error)
	Request(ctx context.Context, subject string, req []byte) ([]byte, error)
}

// Follow asks the server with instance id instance to replay as ask says
// and follows its progress on meter until the result. An error of the request (one
// wrapping eventstore.ErrNoResponder when no such server answers) is
// returned as it is; Follow also fails when the server does not start a
// replay, when the replay fails (with its partial Result), after Silence
// without a report, and when ctx ends (the server carries on).
func Follow(ctx context.Context, req Requester, instance string, ask Request, meter *Meter) (Result, error) {
	subject := Subject(instance)
	done := make(chan struct{})
	defer close(done)
	reports := make(chan Status, 16)
	stop, err := req.Subscribe(subject+".progress", func(msg []byte) {
		var st Status
		if json.Unmarshal(msg, &st) != nil {
			return
		}
		select {
		case reports <- st:
		case <-done:
		}
	})
	if err != nil {
		return Result{}, err
	}
	defer stop()
	body, err := json.Marshal(ask)
	if err != nil {
		return Result{}, err
	}
	resp, err := req.Request(ctx, subject, body)
	if err != nil {
		return Result{}, err
	}
	var ack Ack
	if err := json.Unmarshal(resp, &ack); err != nil {
		return Result{}, fmt.Errorf("the server answered %q: %w", resp, err)
	}
	if !ack.Started {
		return Result{}, fmt.Errorf("the server did not start a replay: %s", ack.Error)
	}
	phase, total := PhaseRebuild, uint64(0)
	silence := time.NewTimer(Silence)
	defer silence.Stop()
	for {
		select {
		case st := <-reports:
			silence.Reset(Silence)
			if st.Result != nil {
				if phase == PhaseRebuild && st.Result.Error == "" {
					meter.Update(total, total)
				}
				if st.Result.Error != "" {
					return *st.Result, fmt.Errorf("the server's replay failed: %s", st.Result.Error)
				}
				return *st.Result, nil
			}
			total = st.Total
			if st.Phase != phase {
				phase = st.Phase
				meter.Update(st.Total, st.Total)
				meter.Note("the server is catching its live read models up, comparing and swapping")
				continue
			}
			meter.Update(st.Done, st.Total)
		case <-silence.C:
			return Result{}, fmt.Errorf("the server sent no news of the replay for %s; its log tells how it ended", Silence)
		case <-ctx.Done():
			return Result{}, fmt.Errorf("stopped following the replay, which the server carries on: %w", ctx.Err())
		}
	}
}
