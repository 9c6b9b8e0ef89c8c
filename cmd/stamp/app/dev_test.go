package app

import "testing"

func TestRequireLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:0": true, "[::1]:0": true, "localhost:0": true, "LOCALHOST:1": true,
		"[::ffff:127.0.0.1]:0": true,
		"0.0.0.0:8080":         false, ":8080": false, "[::]:0": false, "192.0.2.1:80": false, "example.com:80": false,
		"10.0.0.1:80": false, "no-port": false,
	} {
		if err := requireLoopback("http_addr", addr); (err == nil) != ok {
			t.Errorf("requireLoopback(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}
