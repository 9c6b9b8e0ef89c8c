//go:build !cgo || !linux

package memtrim

// Enabled reports whether Trim does anything in this build: without cgo
// Pebble allocates in the Go heap, which the Go runtime returns itself.
const Enabled = false

// Trim does nothing in this build.
func Trim() {}
