// Package eventstore is stamp's event log: one JetStream stream, STAMP
// (domain.StreamName), holding every event on subjects
// stamp.<kind>.<id>.<EventType> (for tokens, refresh families, codes and
// device codes, stamp.<kind>.<shard>.<EventType>: see domain.Aggregate and
// sharded.go), each message a JSON domain.Envelope.
//
// A Store implements domain.EventLog. Append publishes one event with a
// synchronous JetStream publish and several as one atomic batch, so all of
// them are stored or none is; it checks the aggregate's last sequence with
// the Nats-Expected-Last-Subject-Sequence headers against the aggregate's
// wildcard filter (every event type at once) and reports a mismatch as an
// error wrapping domain.ErrConflict (on a sharded aggregate it checks by a
// slot message id instead, domain.SlotID). Envelope ids travel as
// Nats-Msg-Id, so a
// retried append inside the stream's duplicate window is stored once and
// answers with the sequence already stored; a retried append with an
// expectation is recognised at any age.
//
// Every append, with or without an expectation, on one aggregate or
// several (AppendAll), goes through a group commit unless
// Options.DisableGroupCommit: while one is being published the next ones
// wait, then go out together as one atomic batch that the server syncs
// once, each decision's expectation on its own first message; when the
// Store has measured that batches would not pay at the current
// concurrency (no fsync per write, or few concurrent single events), they
// go out one by one at once, as without it. A decision of several events
// costs a batch on its own anyway, so beside others it always shares one.
// Each caller still gets the sequence of its own last event, and the
// outcome it would have got alone: a batch refused for one decision's
// conflict or duplicate is split until that decision is alone. It is what
// lets a single node that fsyncs every write acknowledge more events than
// it can fsync, and multi-event decisions cost about what single events do
// under concurrent load.
//
// Load reads one aggregate with JetStream direct get, by literal subjects so
// the server stays on its per-subject indexes; Read, Replay and Follow stream
// the log through ordered consumers, in stream order and without gaps. Every
// message read is decoded into a domain.Recorded; a message that is not an
// envelope is an error naming its sequence, never skipped.
//
// The stream denies message deletes: the audit log cannot be quietly
// rewritten. Every event is also copied to the archive stream
// STAMP_ARCHIVE (archive.go), which denies deletes and purges and keeps
// everything; the embedded server's archiver (archiver.go), the only
// identity allowed to purge STAMP, drops from it what is older than the
// hot window and already archived. Read, Replay, Follow and Load take what
// lies below STAMP's first sequence from the archive (archive_read.go), by
// the same sequence numbers and through the same signature checks. Both
// streams are S2-compressed unless Options.NoCompression. Options.MaxAge
// drops events from STAMP whether archived or not.
//
// StartServer runs the embedded nats-server with JetStream storing under a
// data directory, which it locks against a second process. A Store connects
// to it in-process (Options.InProcess) or to any NATS URL. The embedded
// server admits only its three nkey identities (Role: writer, reader,
// revocations), each with the least permissions its work needs
// (RolePermissions).
//
// Its machinery lives in internal packages, each with its contract and
// tests: internal/groupcommit (the group commit and its cost model, with
// the Store as its publisher), internal/replymux (the one subscription
// that receives every direct get's answers) and internal/envelope (the
// fast envelope parser behind every read).
//
// Every error this package returns starts with "eventstore:" and wraps its
// cause; Store and Server methods are safe for concurrent use.
package eventstore
