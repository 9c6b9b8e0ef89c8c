// Package projections holds stamp's read models: Pebble-backed views folded
// from the event log, which the domain Service and the HTTP handlers read on
// every request.
//
// # Models
//
// A Store holds three models, each under its own key prefix with its own
// checkpoint (the stream sequence it has applied, uint64 big-endian, stored
// under the prefix too, so dropping a prefix drops its checkpoint):
//
//	clients/checkpoint                   last applied sequence
//	clients/id/<client id>               domain.Client as JSON
//	keys/checkpoint                      last applied sequence
//	keys/id/<kid>                        domain.SigningKey as JSON
//	meta/layout                          layout version of the store ("1")
//	tokens/by-client/<client id>/<jti>   index; the value is the jti
//	tokens/by-user/<user id>/<jti>       index; the value is the jti
//	tokens/checkpoint                    last applied sequence
//	tokens/id/<jti>                      domain.AccessToken as JSON
//
// Each model folds an event by loading the state of the event's aggregate
// (its AggregateOf, which must agree with the subject the event was
// recorded on), applying the pure domain fold (domain.ApplyClient,
// domain.ApplyAccessToken, domain.ApplySigningKey) with the event's sequence
// and time, and writing the result back. An event that leaves the state
// unchanged, or that would create a state without an id (an update of an
// aggregate whose creating event the model never saw), writes nothing but
// the checkpoint.
//
// # Exactly once
//
// Store.Apply and Store.ApplyBatch write the effects of events on every model
// together with the models' checkpoints in one Pebble batch, and commit it
// before they return. A model skips any event at or below its checkpoint, so
// a redelivered event changes nothing, and a crash loses at most events that
// will be delivered again from the durable checkpoint. Events of types this
// code does not know advance the checkpoints without effect; an event of a
// known type at a newer schema version, or a malformed one, stops the
// projection there with an error: nothing of it is written and no later
// event is applied before it, since skipping would silently lose a change.
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
// in a new directory; swapping it in is the caller's job.
//
// projections imports domain, Pebble and the standard library only; the
// eventstore satisfies Source and Replayer, and cmd/stamp wires them.
package projections
