package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/stamp-oauth/stamp/projections"
)

// replayControl serves replay requests on a node: one replay at a time,
// run on the node's own read models, reported on the progress subject.
type replayControl struct {
	n       *Node
	subject string
	stop    func()
	ctx     context.Context
	cancel  context.CancelFunc

	mu      sync.Mutex
	running bool
	wg      sync.WaitGroup
}

// serveReplay gives the node its instance id and starts answering replay
// requests on its subject.
func (n *Node) serveReplay() error {
	var id [8]byte
	rand.Read(id[:])
	n.instance = hex.EncodeToString(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	rc := &replayControl{n: n, subject: replaySubject(n.instance), ctx: ctx, cancel: cancel}
	stop, err := n.store.Serve(rc.subject, rc.handle)
	if err != nil {
		cancel()
		return fmt.Errorf("serve replay requests: %w", err)
	}
	rc.stop = stop
	n.replay = rc
	return nil
}

// close stops answering, cancels a replay in progress and waits for it to
// end (a swap under way completes or rolls back first). Safe on nil.
func (rc *replayControl) close() {
	if rc == nil {
		return
	}
	rc.stop()
	rc.cancel()
	rc.wg.Wait()
}

func (rc *replayControl) handle(body []byte) []byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ack := replayAck{Started: true}
	var req replayRequest
	switch {
	case len(body) > 0 && json.Unmarshal(body, &req) != nil:
		ack = replayAck{Error: "malformed replay request"}
	case rc.running:
		ack = replayAck{Error: "a replay is already running"}
	case rc.ctx.Err() != nil:
		ack = replayAck{Error: "the server is shutting down"}
	default:
		rc.running = true
		rc.wg.Add(1)
		go rc.run(req)
	}
	b, _ := json.Marshal(ack)
	return b
}

// run replays, reporting progress every replayTick and the result last.
func (rc *replayControl) run(req replayRequest) {
	defer func() {
		rc.mu.Lock()
		rc.running = false
		rc.mu.Unlock()
		rc.wg.Done()
	}()
	n := rc.n
	var mu sync.Mutex
	st := replayStatus{Phase: "rebuild"}
	set := func(f func(*replayStatus)) {
		mu.Lock()
		f(&st)
		mu.Unlock()
	}
	publish := func(s replayStatus) {
		b, _ := json.Marshal(s)
		if err := n.store.Publish(rc.subject+".progress", b); err != nil {
			n.logger.Debug("replay: report progress", "err", err)
		}
	}
	ticking := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(replayTick)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				mu.Lock()
				s := st
				mu.Unlock()
				publish(s)
			case <-ticking:
				return
			}
		}
	}()

	n.logger.Info("replay: rebuilding the read models from the log")
	res, err := rc.replay(req, set, publish)
	close(ticking)
	<-ticked
	if err != nil {
		res.Error = err.Error()
		n.logger.Error("replay failed", "err", err)
	} else {
		n.logger.Info("replay: swapped in the rebuilt read models", "events", res.Events, "seconds", res.Seconds,
			"seq", res.Seq, "checksum", res.Checksum, "drifted", res.drifted())
	}
	publish(replayStatus{Phase: "done", Result: &res})
}

func (rc *replayControl) replay(req replayRequest, set func(func(*replayStatus)), publish func(replayStatus)) (replayResult, error) {
	n := rc.n
	dir := projectionsDir(n.cfg)
	opts := projections.Options{Logger: n.logger, UserKeys: n.keys}
	src, note, err := checkLog(rc.ctx, n.store, n.store, time.Duration(n.cfg.StreamMaxAge)) // see integrity.go
	if err != nil {
		return replayResult{}, err
	}
	var snaps snapshotSource
	if !req.FromScratch {
		snaps = n.store
	}
	fresh, res, err := rebuildFresh(rc.ctx, src, dir, opts, func(done, total uint64) {
		set(func(s *replayStatus) { s.Done, s.Total = done, total })
	}, snaps, snapshotWarner(n.logger))
	res.Note = note
	if err != nil {
		return res, err
	}
	var swapping replayStatus
	set(func(s *replayStatus) {
		s.Phase, s.Done = "swap", s.Total
		swapping = *s
	})
	publish(swapping) // at once: the swap may take less than a tick
	sw, err := n.views.SwapIn(rc.ctx, fresh, src, projections.Swap{Dir: dir, FreshDir: dir + ".rebuild", Options: opts})
	if err != nil {
		os.RemoveAll(dir + ".rebuild")
		return res, fmt.Errorf("the live read models are left in place: %w", err)
	}
	res.Seq, res.Checksum, res.LiveChecksum = sw.Seq, sw.FreshSum, sw.LiveSum
	return res, nil
}
