// Package clilog is the CLI's own reading of the event log. The read
// models belong to the server, so the commands that show or decide on
// clients, users, keys and events read the log itself: Fold folds records
// of some aggregate kinds into a World that answers the service's read
// ports; Reveal and Revealer open the sealed personal fields of users
// with their keys (or show them as domain.Erased); Filter and ParseMoment
// select what `stamp events` and `stamp audit` show.
//
// It speaks in domain records over small read interfaces (Replayer,
// KeyReader) and imports no storage: the event store and the user key
// store of the command serve them. Nothing here is safe for concurrent
// use unless its doc comment says so.
package clilog
