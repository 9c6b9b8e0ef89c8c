package eventstore

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// readAheadWindow bounds how many messages a verifying read checks ahead of
// the one it hands to its caller.
const readAheadWindow = 256

// errReadAheadStopped: the read-ahead ended without an error of its own
// (its context ended).
var errReadAheadStopped = errors.New("read-ahead stopped")

// readItem is one message on its way through a read-ahead.
type readItem struct {
	seq     uint64
	pending uint64 // messages left after it, as the server said
	msg     jetstream.Msg
	rec     domain.Recorded
	err     error         // ends the read
	done    chan struct{} // closed once rec or err is set
}

// reads returns next, which hands out the messages of it in order as
// Records (through entry, verifier.read when nil, so refused ones have
// Refused set) with
// the number of messages pending after each, and stop, which the caller
// must call when done, before it stops it.
//
// Checking an Ed25519 signature costs more than everything else a replay
// does per event, so while the Store verifies and has more than one CPU,
// next's messages are checked on several goroutines, up to readAheadWindow
// ahead, still handed out in order. A log-signing announcement is checked
// before any later message is, so that those see the adoption point it
// teaches. Otherwise (or when serial) each message is checked when next
// is called.
func (s *Store) reads(ctx context.Context, it jetstream.MessagesContext, entry entryFunc, serial bool) (next func() (domain.Recorded, uint64, error), stop func()) {
	if entry == nil {
		entry = s.verify.read
	}
	procs := runtime.GOMAXPROCS(0)
	if len(s.verify.keys) == 0 || procs < 2 || serial {
		return func() (domain.Recorded, uint64, error) {
			msg, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				return domain.Recorded{}, 0, err
			}
			meta, err := msg.Metadata()
			if err != nil {
				return domain.Recorded{}, 0, err
			}
			rec, _ := entry(meta.Sequence.Stream, msg.Subject(), msg.Headers(), msg.Data())
			return rec, meta.NumPending, nil
		}, func() {}
	}

	ctx, cancel := context.WithCancel(ctx)
	ordered := make(chan *readItem, readAheadWindow)
	jobs := make(chan *readItem, readAheadWindow)
	var wg sync.WaitGroup
	check := func(item *readItem) {
		item.rec, _ = entry(item.seq, item.msg.Subject(), item.msg.Headers(), item.msg.Data())
		item.msg = nil
		close(item.done)
	}
	for range min(procs, 8) {
		wg.Go(func() {
			for item := range jobs {
				check(item)
			}
		})
	}
	wg.Go(func() {
		defer close(ordered)
		defer close(jobs)
		for {
			item := &readItem{done: make(chan struct{})}
			msg, err := it.Next(jetstream.NextContext(ctx))
			var meta *jetstream.MsgMetadata
			if err == nil {
				meta, err = msg.Metadata()
			}
			if err != nil {
				item.err = err
				close(item.done)
				select {
				case ordered <- item:
				case <-ctx.Done():
				}
				return
			}
			item.seq, item.pending, item.msg = meta.Sequence.Stream, meta.NumPending, msg
			if msg.Subject() == announcementSubject {
				check(item)
			} else {
				select {
				case jobs <- item:
				case <-ctx.Done():
					return
				}
			}
			select {
			case ordered <- item:
			case <-ctx.Done():
				return
			}
		}
	})
	next = func() (domain.Recorded, uint64, error) {
		item, ok := <-ordered
		if !ok {
			return domain.Recorded{}, 0, errReadAheadStopped
		}
		<-item.done
		if item.err != nil {
			return domain.Recorded{}, 0, item.err
		}
		return item.rec, item.pending, nil
	}
	return next, func() {
		cancel()
		wg.Wait()
	}
}
