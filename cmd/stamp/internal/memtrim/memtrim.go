// Package memtrim returns to the operating system the memory the C
// allocator keeps after it is freed.
//
// Pebble allocates its block cache and memtables with the C allocator
// when cgo is on (the default where a C compiler is installed). glibc's
// allocator keeps freed memory in its arenas (one per thread that
// allocated, up to eight per core) for later allocations, and returns it
// to the operating system only when the top of an arena is free: a cache
// that evicts and refills as the read models grow leaves an arena's
// freed blocks resident. Trim asks it to give back every free page.
package memtrim
