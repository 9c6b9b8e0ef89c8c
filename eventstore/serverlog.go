package eventstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// serverLogger adapts slog to nats-server's Logger. It also keeps the first
// fatal message, so StartServer can say why the server did not start: an
// embedded nats-server reports a failed start only through its log.
type serverLogger struct {
	log   *slog.Logger
	debug bool

	mu    sync.Mutex
	first string
}

func newServerLogger(l *slog.Logger) *serverLogger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	l = l.With("component", "nats-server")
	return &serverLogger{log: l, debug: l.Enabled(context.Background(), slog.LevelDebug)}
}

func (l *serverLogger) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

func (l *serverLogger) Noticef(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }
func (l *serverLogger) Warnf(format string, v ...any)   { l.emit(slog.LevelWarn, format, v) }
func (l *serverLogger) Errorf(format string, v ...any)  { l.emit(slog.LevelError, format, v) }
func (l *serverLogger) Debugf(format string, v ...any)  { l.emit(slog.LevelDebug, format, v) }
func (l *serverLogger) Tracef(format string, v ...any)  { l.emit(slog.LevelDebug, format, v) }

// Fatalf logs at error level and never exits: the caller decides.
func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if l.first == "" {
		l.first = msg
	}
	l.mu.Unlock()
	l.log.Error(msg)
}

func (l *serverLogger) emit(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, fmt.Sprintf(format, v...))
}
