package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/memtrim"
)

// RuntimeConfig are the settings of the serving process's memory and its
// profiles (README "Memory at scale").
type RuntimeConfig struct {
	// MemoryLimit is the Go runtime's soft memory limit in bytes for
	// `stamp serve` (debug.SetMemoryLimit, as GOMEMLIMIT): near it the
	// garbage collector runs more often instead of letting the heap double.
	// 0 leaves the runtime's (GOMEMLIMIT, else none).
	MemoryLimit ByteSize `json:"memory_limit"`
	// ReadModelCache is the read models' block cache (Pebble's) in bytes:
	// what it holds stays resident, so a fuller store (a long history's
	// event index) costs up to this much more memory. 0:
	// projections.DefaultCacheSize.
	ReadModelCache ByteSize `json:"read_model_cache"`
	// DebugAddress, when set, serves Go's profiles (/debug/pprof/) on
	// this host:port for `stamp serve`. Empty: off.
	DebugAddress string `json:"debug_address"`
}

// ByteSize is a number of bytes, written as a number with an optional
// unit: B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB (of 1000).
type ByteSize int64

// parseByteSize parses s as a ByteSize.
func parseByteSize(s string) (ByteSize, error) {
	num := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a size such as 128MiB, got %q", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalJSON reads a size from the config file: "128MiB" or a number
// of bytes.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	s := string(data)
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	v, err := parseByteSize(s)
	*b = v
	return err
}

// runtimeSettings are RuntimeConfig's rows of the settings table; str is
// the settings' string parser.
func runtimeSettings(str func(func(*Config) *string) func(*Config, string) error) []setting {
	return []setting{
		{"memory-limit", "soft limit of the Go runtime's memory for serve, such as 128MiB (as GOMEMLIMIT: the garbage collector works harder near it rather than let the heap double; it is not a cap, and Pebble's cache is outside it); 0: the runtime's own (GOMEMLIMIT, else none)", func(c *Config, v string) error {
			b, err := parseByteSize(v)
			c.MemoryLimit = b
			return err
		}},
		{"read-model-cache", "the read models' block cache, such as 16MiB: lookups it holds are served from memory, the others from the operating system's file cache (default 16MiB)", func(c *Config, v string) error {
			b, err := parseByteSize(v)
			c.ReadModelCache = b
			return err
		}},
		{"debug-address", "host:port of a listener serving Go's profiles at /debug/pprof/ for serve (heap, goroutines, CPU); keep it on loopback (default: empty, off)", str(func(c *Config) *string { return &c.DebugAddress })},
	}
}

// validate checks r, naming the bad setting.
func (r *RuntimeConfig) validate() error {
	if r.MemoryLimit < 0 {
		return errors.New("config: memory_limit: must not be negative")
	}
	if r.ReadModelCache < 0 {
		return errors.New("config: read_model_cache: must not be negative")
	}
	if r.DebugAddress != "" {
		if _, _, err := net.SplitHostPort(r.DebugAddress); err != nil {
			return fmt.Errorf("config: debug_address: %q is not host:port", r.DebugAddress)
		}
	}
	return nil
}

// applyRuntime sets the process's memory limit and starts the profile
// listener r asks for; stop closes the listener. It is for `stamp serve`
// alone: the memory limit is the process's, so in-process tests starting
// nodes leave it unset. Errors: an address that cannot be bound.
func applyRuntime(r RuntimeConfig, logger *slog.Logger) (stop func(), err error) {
	if r.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(r.MemoryLimit))
	}
	stopTrim := trimEvery(memoryTrimInterval)
	if r.DebugAddress == "" {
		return stopTrim, nil
	}
	ln, err := net.Listen("tcp", r.DebugAddress)
	if err != nil {
		stopTrim()
		return nil, fmt.Errorf("debug_address: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("debug server stopped", "err", err)
		}
	}()
	logger.Info("serving Go profiles", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { stopTrim(); srv.Close() }, nil
}

// memoryTrimInterval is how often `stamp serve` has the C allocator give
// back its free pages (memtrim).
const memoryTrimInterval = 30 * time.Second

// trimEvery calls memtrim.Trim every period until stop is called; nothing
// where Trim does nothing (no cgo: Pebble allocates in the Go heap).
func trimEvery(period time.Duration) (stop func()) {
	if !memtrim.Enabled {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				memtrim.Trim()
			}
		}
	}()
	return sync.OnceFunc(func() { close(done) })
}
