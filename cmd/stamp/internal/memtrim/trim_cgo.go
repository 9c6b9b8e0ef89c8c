//go:build cgo && linux

package memtrim

// #include <malloc.h>
import "C"

// Enabled reports whether Trim does anything in this build.
const Enabled = true

// Trim returns the C allocator's free pages, of every arena, to the
// operating system (glibc's malloc_trim(0)). It takes a few milliseconds.
func Trim() { C.malloc_trim(0) }
