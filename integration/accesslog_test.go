package integration

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// startAccessLogged is env.start with the node's log at level info, so
// the access log included, captured in the returned buffer (records at
// warn and above still reach the test's output).
func (e *env) startAccessLogged() (*app.Node, *lockedBuffer) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var log lockedBuffer
	cfg := e.config()
	cfg.LogLevel = "info"
	handler := slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo})
	n, err := app.Start(ctx, cfg, slog.New(teeHandler{handler, slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn})}))
	if err != nil {
		e.t.Fatalf("start: %v", err)
	}
	e.t.Cleanup(func() { n.Close(context.Background()) })
	return n, &log
}

// teeHandler sends each record to both handlers that want it.
type teeHandler struct{ a, b slog.Handler }

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.a.Enabled(ctx, r.Level) {
		_ = h.a.Handle(ctx, r.Clone())
	}
	if h.b.Enabled(ctx, r.Level) {
		return h.b.Handle(ctx, r)
	}
	return nil
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.a.WithAttrs(as), h.b.WithAttrs(as)}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{h.a.WithGroup(name), h.b.WithGroup(name)}
}

// assertAccessLogClean checks that log holds access records of token
// requests (so the check is not vacuous) and none of secrets.
func assertAccessLogClean(t *testing.T, log *lockedBuffer, secrets []string) {
	t.Helper()
	text := log.String()
	var tokenRequests int
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, `"msg":"http request"`) && strings.Contains(line, `"route":"/oauth/token"`) &&
			strings.Contains(line, `"request_id":"`) && strings.Contains(line, `"client":"127.0.0.1"`) {
			tokenRequests++
		}
	}
	if tokenRequests < 10 {
		t.Errorf("access log: %d records of token requests; want at least 10", tokenRequests)
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("the log holds a secret, code or token: %.12s…", s)
		}
	}
}

// TestAccessLogOff: access_log false writes no request records.
func TestAccessLogOff(t *testing.T) {
	e := newEnv(t, "STAMP_ACCESS_LOG", "false")
	n, log := e.startAccessLogged()
	id, secret := e.createClient(n, "off")
	if status, _, body := postForm(t, n.HTTPURL()+"/oauth/token", id, secret, map[string][]string{"grant_type": {"client_credentials"}}); status != 200 {
		t.Fatalf("token: got %d %s", status, body)
	}
	if strings.Contains(log.String(), `"msg":"http request"`) {
		t.Errorf("access_log false: got request records:\n%s", log)
	}
}
