// Package projections holds stamp's read models: Pebble-backed views folded
// from the event log, which the domain Service and the HTTP handlers read on
// every request.
//
// # Models
//
// A Store holds nine models, each under its own key prefix with its own
// checkpoint (the stream sequence it has applied, uint64 big-endian, stored
// under the prefix too, so dropping a prefix drops its checkpoint):
//
//	authorizations/by-user/<user id>/<id>     index; the value is the id
//	authorizations/checkpoint                 last applied sequence
//	authorizations/id/<user id>_<client id>   domain.Authorization as JSON
//	clients/by-origin/<web origin>            ids of its live clients, comma-separated, in order
//	clients/checkpoint                        last applied sequence
//	clients/id/<client id>                    domain.Client as JSON
//	codes/by-expiry/<expires at>/<code id>    index; the value is the code id
//	codes/by-hash/<code hash>                 the code id
//	codes/checkpoint                          last applied sequence
//	codes/id/<code id>                        domain.AuthCode as JSON
//	devices/by-device-code-hash/<hash>        the device code id
//	devices/by-expiry/<expires at>/<id>       index; the value is the id
//	devices/by-user-code-hash/<hash>          the device code id
//	devices/checkpoint                        last applied sequence
//	devices/id/<device code id>               domain.DeviceCode as JSON
//	events/<kind>/<id>/<seq, 8 bytes>          event index of the sharded kinds; the value is the seq
//	events/checkpoint                         last applied sequence
//	keys/checkpoint                           last applied sequence
//	keys/id/<kid>                             domain.SigningKey as JSON
//	meta/layout                               layout version of the store ("2")
//	refresh/by-*/<owner>/<family id>          indexes, as for tokens
//	refresh/by-token-hash/<token hash>        family id (live and rotated-out tokens)
//	refresh/checkpoint                        last applied sequence
//	refresh/id/<family id>                    domain.RefreshFamily as JSON
//	sessions/by-expiry/<expires at>/<id>      index; the value is the session id
//	sessions/checkpoint                       last applied sequence
//	sessions/id/<session id>                  domain.EndedSession as JSON
//	tokens/by-client/<client id>/<jti>        index; the value is the jti
//	tokens/by-expiry/<expires at>/<jti>       index; the value is the jti
//	tokens/by-revoked/<revoked at>/<jti>      index (revoked tokens only)
//	tokens/by-user/<user id>/<jti>            index (tokens with a user only)
//	tokens/checkpoint                         last applied sequence
//	tokens/id/<jti>                           domain.AccessToken as JSON
//	users/by-email/<normalized email>         ids of its live users, comma-separated, in order
//	users/checkpoint                          last applied sequence
//	users/id/<user id>                        domain.User as JSON
//
// The by-hash and by-email entries are unique indexes: a value names one
// record (the first of its users holds an email; more than one only if two
// registrations raced), and is looked up whole, never by prefix. A deleted
// user keeps its record, flagged and without its email and name, and
// leaves its email's entry, so the email can be registered again. Emails
// and names arrive sealed under each user's key; the users model opens them
// through Options.UserKeys (see reveal.go).
//
// Times in keys are UTC with a fixed width (2006-01-02T15:04:05.000000000Z),
// so key order is time order.
//
// Each model is declared as data in its own file, model_<name>.go (see
// model.go): its key prefix, its listing and unique indexes, its purge
// rule, and its fold, taken from the one fold table of domain
// (domain.FoldTable), which also says which events change which state.
// One fold serves every model: it loads the state the event targets (for
// most, the event's aggregate, whose AggregateOf must agree with the
// subject the event was recorded on; for ended sessions, the session a
// SessionEnded names), applies the pure domain fold with the event's
// sequence and time, keeps the model's index entries in step (index.go),
// and writes the result back. An event that leaves the state unchanged,
// or that would create a state without an id (an update of an aggregate
// whose creating event the model never saw), writes nothing but the
// checkpoint. One purge (purge.go) serves every model that has a purge
// rule: a domain.TokensPurged drops from the tokens and refresh models,
// index entries included, the records it names, found through their time
// indexes; when it purges expired tokens, it drops the authorization codes
// and device codes that expired before its Before too (a redeemed code
// stays until then, so that its reuse is recognised), and the ended
// sessions that expired before it, as every domain.SessionEnded does
// before its own time.
//
// # Exactly once
//
// Store.Apply and Store.ApplyBatch write the effects of events on every
// model together with the models' checkpoints in one Pebble batch (a purge
// starts a batch of its own), and commit it before they return. A model
// skips any event at or below its checkpoint, so a redelivered event
// changes nothing, and a crash loses at most events that will be delivered
// again from the durable checkpoint. Events of types this code does not
// know advance the checkpoints without effect. An event the store cannot
// apply — a known type at a newer schema version, a malformed one, a
// message the log refused (bad or missing log signature) — never stops
// it: it is parked (parked.go), recorded under parked/ with its reason in
// the same batch as the checkpoints that move past it, and a newer version
// blocks the later events of its aggregate, parked behind it, since
// applying them alone would build a wrong state. Store.Parked and
// Runner.Parked list them; after an upgrade a rebuild applies them.
//
// Applying is deterministic: the same events in the same order give the same
// keys and values, byte for byte, whether applied one by one, in batches of
// any size, redelivered, or replayed into a fresh store; Store.Checksum
// proves it.
//
// # Running
//
// A Runner tails the log through the Source port from Checkpoint()+1 and
// applies what arrives, in batches of whatever is already waiting. WaitFor
// lets a request wait until its own append is visible (read your writes).
// Rebuild replays the whole log through the Replayer port into a fresh store
// in a new directory; SwapIn (swap.go) swaps it in under a live Store.
//
// # Snapshots and verification
//
// WriteSnapshot (snapshot.go) writes the whole store, checkpoints
// included, as one checksummed stream; RestoreSnapshot and
// RebuildFromSnapshot build a store from one (and the log after it),
// equal byte for byte to the store it was taken of. Where snapshots are
// kept and who signs them is cmd/stamp's business. Verify reads the whole
// store; VerifyIncremental (verified.go) only the tables it has not read
// before and, in turn, a fixed budget of the others.
//
// projections imports domain, Pebble and the standard library only; the
// eventstore satisfies Source and Replayer, and cmd/stamp wires them.
package projections
