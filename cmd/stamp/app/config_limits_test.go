package app

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTrustedProxiesSetting: CIDRs and single addresses, from flag,
// environment or file; anything else stops the program naming the
// setting.
func TestTrustedProxiesSetting(t *testing.T) {
	c, err := LoadConfig([]string{"--trusted-proxies", " 10.0.0.0/8, 192.168.1.5 ,2001:db8::/32,::ffff:172.16.0.0/108"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.trustedProxies()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.5/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("172.16.0.0/12"),
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("trusted proxies (-want +got):\n%s", diff)
	}
	env := map[string]string{"STAMP_TRUSTED_PROXIES": "127.0.0.1/32"}
	if c, err := LoadConfig(nil, func(k string) string { return env[k] }); err != nil || len(c.TrustedProxies) != 1 {
		t.Errorf("from the environment: got %v, %v; want one proxy", c.TrustedProxies, err)
	}
	if c, _ := LoadConfig(nil, func(string) string { return "" }); len(c.TrustedProxies) != 0 {
		t.Errorf("default: got %v; want none", c.TrustedProxies)
	}
	for _, bad := range []struct{ args []string }{
		{[]string{"--trusted-proxies", "10.0.0.0/33"}},
		{[]string{"--trusted-proxies", "proxy.example.com"}},
		{[]string{"--trusted-proxies", "10.0.0.1,*"}},
		{[]string{"--password-hash-memory-mb", "10"}},
		{[]string{"--password-hash-wait", "0s"}},
	} {
		_, err := LoadConfig(bad.args, func(string) string { return "" })
		name := strings.ReplaceAll(strings.TrimPrefix(bad.args[0], "--"), "-", "_")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: got %v; want an error naming %s", bad.args, err, name)
		}
	}
}
