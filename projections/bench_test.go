package projections

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stamp-oauth/stamp/domain"
)

// benchHistory returns n events of a token server's usual mix: mostly
// AccessTokenCreated, some revocations, a few client and key events.
func benchHistory(b *testing.B, n int) []domain.Recorded {
	return randomHistory(b, n, 42, false)
}

// benchStore opens a store on a fresh in-memory filesystem, or on disk
// under a temporary directory.
func benchStore(b *testing.B, disk bool) *Store {
	if disk {
		s, err := Open(b.TempDir(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	return openMem(b, vfs.NewMem(), "db")
}

// BenchmarkApply applies one event per Pebble batch, as the Runner does
// when events come one at a time.
func BenchmarkApply(b *testing.B) {
	for _, disk := range []bool{false, true} {
		b.Run(fsName(disk), func(b *testing.B) {
			recs := benchHistory(b, b.N)
			s := benchStore(b, disk)
			b.ReportAllocs()
			b.ResetTimer()
			for _, rec := range recs {
				if err := s.Apply(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkApplyBatch applies events in batches of 256, as the Runner does
// with a burst and Rebuild does on replay.
func BenchmarkApplyBatch(b *testing.B) {
	const size = 256
	for _, disk := range []bool{false, true} {
		b.Run(fsName(disk), func(b *testing.B) {
			recs := benchHistory(b, b.N)
			s := benchStore(b, disk)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < len(recs); i += size {
				if err := s.ApplyBatch(recs[i:min(i+size, len(recs))]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func fsName(disk bool) string {
	if disk {
		return "disk"
	}
	return "mem"
}

// BenchmarkRebuild replays a log of b.N events into a fresh store through
// Rebuild, batches of 1024 included.
func BenchmarkRebuild(b *testing.B) {
	log := newFakeLog(benchHistory(b, b.N)...)
	b.ReportAllocs()
	b.ResetTimer()
	s, err := Rebuild(b.Context(), "db", Options{FS: vfs.NewMem()}, log, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	s.Close()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
