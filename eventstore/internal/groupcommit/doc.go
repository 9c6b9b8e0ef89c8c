// Package groupcommit lets concurrent appends to a JetStream stream share
// a publish, so that with fsync before every acknowledgement they share an
// fsync too. The event store runs every append through it: single events
// and atomic multi-event decisions, with or without an expectation.
//
// # Contract
//
// The Committer promises, for the appends given to Committer.Append:
//
//   - each append's messages are stored contiguously and in order, and its
//     caller gets the stream sequence of its own last message;
//   - an append that succeeded is stored before any append made after it
//     returned; an append whose ctx ended may still be stored, then
//     possibly after later ones, as a timed-out publish may (the caller
//     then gets ErrWaitEnded, or the publish's own error);
//   - an append whose caller's ctx has ended before its round starts is
//     left out, so it is not stored behind the caller's back;
//   - an append refused inside a combined batch (say, a decision whose
//     expectation failed, a retry whose id is already stored, or a limit)
//     is published again on its own, so every caller gets the answer
//     Append.PublishAlone would have given it; the others of that batch
//     are not refused for it (the batch is split in halves, each half a
//     batch again, until the refused append is alone);
//   - an append with a Guard never goes in a batch behind a message on a
//     subject its guard matches;
//   - after Close, queued and later appends fail with ErrClosed without
//     being published.
//
// It requires of the caller: appends whose messages carry ids the stream
// deduplicates (a refused batch's appends are published again, and a
// batch cut short by Close or a timeout may have been stored), whose
// expectation, if any, is on their first message and checked by the
// server against what is stored (a sequence expectation, named by Guard)
// or by a message id (a slot id, which needs no guard: the server refuses
// an id twice within a batch too); a Publisher whose PublishBatch is
// atomic (all or nothing), wraps ErrRefused when the stream answered with
// a refusal, and whose Barrier stores nothing; Close once, then Wait.
//
// # Why combine decisions (and not something else)
//
// On a single-node file store an atomic batch costs the server a fixed
// six syncs and a directory made and removed (nats-server
// jetstream_batching.go, newBatchStore: a staging file store per batch,
// its two meta files written O_SYNC and their directory fsynced twice, the
// staged block fsynced, then the commit's one fsync; then it deletes the
// directory), against one fsync for a single message; the server's
// maintainers name that staging the primary cost of single-node batches
// (nats-io/nats-server pull request 7298). One staged batch measured
// 3.4 ms against 0.4 ms for a single message on a quiet disk of the
// development machine, 15–24 ms against 1.2–1.5 ms under load. A decision of two or three events (a
// password grant, a code exchange, a refresh rotation) therefore costs 8–
// 15 single appends when it goes alone. The ways out weighed:
//
//   - (b) pipelining a batch's messages does not help: they are already
//     sent without waiting, and only the commit is answered; the cost is
//     the server's staging, not round trips;
//   - (c) one event per decision would remove the batch, but changes the
//     events the README documents and every reader of them;
//   - (a) combining concurrent decisions into one batch shares the fixed
//     cost: a round of n decisions pays one staging, so under concurrent
//     load a multi-event decision costs about what a single event does.
//
// (a) is what this package does. At one appender nothing is there to
// share with, and a multi-event decision still costs one staged batch.
//
// # How it works
//
// An append is published directly by its caller when no round of the
// flusher is in progress and nothing is queued, and either no other direct
// append is in flight or the costs measured so far say that a batch would
// not pay at the current concurrency (then concurrent appends go out as if
// there were no group commit, with no hand-off). Otherwise it queues. When
// the direct appends in flight have drained, the flusher takes everything
// queued and publishes it as one round, round after round until the queue
// is empty; then appends are direct again. A round larger than
// maxBatchEvents messages is split, keeping every append whole.
//
// # Cost model
//
// A round publishes its appends as one atomic batch, which the server
// stores with one fsync, or each on its own, concurrently, which the server
// stores one after another with an fsync each. An atomic batch costs the
// server a fixed few milliseconds (it stages the batch in a temporary file
// store it creates, syncs and deletes), so it wins only when enough appends
// wait and each write is synced; the Committer measures both costs as it
// goes and picks the cheaper for each round:
//
//   - solo cost: the time per append published on its own, from direct
//     appends (measured as throughput over a busy period, every
//     busySampleSize appends, since overlapping appends wait for each
//     other at the server) and from rounds published one by one; sums
//     decaying by an eighth per sample, trusted after minSoloSamples;
//   - batch cost: a moving average (the newest sample weighs a quarter) of
//     the time of a combined batch including its clean-up (see Barrier);
//   - a round of n appends is one batch when n × solo cost > batch cost,
//     and direct appends stop queueing while the appends in the committer
//     × solo cost ≤ batch cost;
//   - the way not chosen is tried again after probeInterval when it is
//     within a factor of probeRange (at most probeSize appends on their
//     own), so that one bad sample (a disk stall) cannot settle the choice
//     for good;
//   - a round that holds an append of several messages is always one
//     batch: that append costs a batch anyway; for the same reason such an
//     append queues (and starts a round) whenever another is in flight,
//     instead of going out beside it.
//
// The server deletes a batch's staging store after it acknowledges the
// batch, on the stream's one write loop, delaying whatever comes next.
// After a combined batch the flusher therefore waits for the Publisher's
// Barrier, answered only once the loop is done with the batch: the batch's
// measured cost includes its clean-up, and the next commit's does not.
package groupcommit
