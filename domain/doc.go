// Package domain holds stamp's OAuth2 rules and its event model: the event
// envelope and every event type with its wire name and schema version, the
// state folded from those events, the pure decisions of each grant, token
// claims and signing, and the application Service that turns a command into
// events (read a view, decide, append, wait for the projection).
//
// domain does no I/O and imports no infrastructure: the Service reaches the
// event log and the read models only through the small ports declared in
// ports.go, which cmd/stamp fills with the eventstore and projections
// packages. Time and randomness are parameters of every decision.
package domain
