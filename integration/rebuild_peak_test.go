package integration

import (
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"
)

// peakSampler watches the process's resident set while a phase of a
// benchmark runs and keeps, for its highest reading, what the Go runtime
// held then: the rest of the RSS is memory outside the Go heap (Pebble's
// memtables and block cache, allocated with C's malloc when cgo is on).
// With STAMP_BENCH_HEAPPROFILE=<file> it also writes a heap profile at
// the highest reading to <file>-<phase> (rewritten each time the RSS
// grows by 16 MiB).
type peakSampler struct {
	stop chan struct{}
	done sync.WaitGroup

	mu   sync.Mutex
	peak peakSample
}

// peakSample is one reading: RSS, and the Go runtime's memory classes.
type peakSample struct {
	RSS       uint64 // VmRSS
	GoTotal   uint64 // all memory the Go runtime has mapped
	HeapLive  uint64 // heap objects, live and not yet swept
	HeapFree  uint64 // heap memory free, not yet returned to the system (resident)
	Released  uint64 // heap memory returned to the system (not resident)
	OtherInGo uint64 // stacks, runtime metadata and the rest
	HeapGoal  uint64 // the heap size at which the next GC starts
}

// NotGo is the part of RSS the Go runtime does not account for.
func (p peakSample) NotGo() uint64 {
	inGo := p.GoTotal - p.Released
	if p.RSS < inGo {
		return 0
	}
	return p.RSS - inGo
}

func startPeakSampler(phase string) *peakSampler {
	s := &peakSampler{stop: make(chan struct{})}
	profile := os.Getenv("STAMP_BENCH_HEAPPROFILE")
	if profile != "" {
		profile += "-" + phase
	}
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/gc/heap/goal:bytes"},
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var profiled uint64
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			rss, ok := readStatusKB("VmRSS:")
			if !ok {
				continue
			}
			s.mu.Lock()
			higher := rss > s.peak.RSS
			s.mu.Unlock()
			if !higher {
				continue
			}
			metrics.Read(samples)
			p := peakSample{RSS: rss, GoTotal: samples[0].Value.Uint64(), HeapLive: samples[1].Value.Uint64() + samples[4].Value.Uint64(),
				HeapFree: samples[2].Value.Uint64(), Released: samples[3].Value.Uint64(), HeapGoal: samples[5].Value.Uint64()}
			p.OtherInGo = p.GoTotal - p.HeapLive - p.HeapFree - p.Released
			s.mu.Lock()
			s.peak = p
			s.mu.Unlock()
			if profile != "" && rss > profiled+16<<20 {
				if f, err := os.Create(profile); err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
					profiled = rss
				}
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the highest reading.
func (s *peakSampler) Stop() peakSample {
	close(s.stop)
	s.done.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
