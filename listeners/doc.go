// Package listeners holds stamp's event listeners: small modules that react
// to events of the log, each as one durable JetStream consumer with one
// handler (DESIGN principle 6). It ships RevokeOldTokens and PruneOldTokens,
// the two listeners of Passport's documentation, and Webhook, which posts
// matching events to a URL.
//
// # Contract
//
// A Listener has a Name, its durable consumer name, which never changes once
// released: renaming it re-consumes the whole stream. Filter selects the
// subjects it consumes. Handle reacts to one event and must be idempotent:
// the stream delivers at least once, so a redelivered event changes nothing
// twice. The listeners here achieve that by appending their reactions
// through the application service with the source event's envelope id as
// cause: the reaction's event id derives from it (domain.DerivedID), so the
// log stores a repeated reaction once, and the service's own decision
// (revoking a revoked token changes nothing) makes a late repeat a no-op.
// Each listener decides from the event's own times, never the clock, so a
// redelivery decides the same.
//
// Acknowledgement, retry, back-off and parking live in one place, the
// Runner: a listener returns an error and the Runner retries it with
// back-off, then parks the event for an operator once MaxAttempts is
// reached. Event types this release does not know are acknowledged without
// calling the handler; a known type at a newer schema version than this
// release reads is never acknowledged (skipping it would lose a change):
// the Runner retries it slowly until an operator upgrades.
//
// # Dependencies
//
// listeners imports only domain and the standard library (net/http is the
// webhook's own technology). It never imports the eventstore, projections,
// httpapi or cmd packages: it declares the small ports it consumes (Source,
// Waiter, UserTokens, TokenRevoker, UserFamilies, FamilyRevoker) and
// cmd/stamp fills them with the eventstore, the projections and the
// domain.Service.
package listeners
