package eventstore

import (
	"testing"
	"time"
)

// ConnectedServer names the server the connection is on, and nothing once
// that server is gone.
func TestConnectedServer(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	st, err := Open(testContext(t), Options{URL: srv.ClientURL(), NkeySeedFile: srv.SeedFile(RoleWriter)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	if got := st.ConnectedServer(); got != "stamp" {
		t.Fatalf("ConnectedServer() = %q; want %q (the embedded server's name)", got, "stamp")
	}
	srv.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for st.ConnectedServer() != "" {
		if time.Now().After(deadline) {
			t.Fatalf("ConnectedServer() = %q 10s after the server shut down; want \"\"", st.ConnectedServer())
		}
		time.Sleep(time.Millisecond)
	}
}
