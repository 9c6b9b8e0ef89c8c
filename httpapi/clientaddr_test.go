package httpapi

import (
	"net/http"
	"net/netip"
	"testing"
)

// TestClientAddr: the address limits count is the peer's, unless the peer
// is a trusted proxy: then the right-most X-Forwarded-For (or Forwarded)
// address that is not a trusted proxy. The token endpoint passes it as
// TokenRequest.Remote and ClientCredentials.Remote.
func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	tests := []struct {
		name      string
		trusted   []netip.Prefix
		peer      string
		xff, fwd  []string
		want      string
		wantProto bool // X-Forwarded-Proto: https believed
	}{
		{name: "peer", want: "192.0.2.1"},
		{name: "XFF ignored without trusted proxies", xff: []string{"203.0.113.9"}, want: "192.0.2.1"},
		{name: "Forwarded ignored without trusted proxies", fwd: []string{"for=203.0.113.9"}, want: "192.0.2.1"},
		{name: "XFF ignored from an untrusted peer", trusted: proxies, peer: "198.51.100.1:4000", xff: []string{"203.0.113.9"}, want: "198.51.100.1"},
		{name: "trusted proxy", trusted: proxies, xff: []string{"203.0.113.9"}, want: "203.0.113.9", wantProto: true},
		{name: "a forged entry left of the real one", trusted: proxies, xff: []string{"6.6.6.6, 203.0.113.9"}, want: "203.0.113.9", wantProto: true},
		{name: "a chain of trusted proxies", trusted: proxies, xff: []string{"6.6.6.6, 203.0.113.9, 10.1.2.3", "10.0.0.2"}, want: "203.0.113.9", wantProto: true},
		{name: "every hop trusted", trusted: proxies, xff: []string{"10.1.2.3, 10.0.0.2"}, want: "10.1.2.3", wantProto: true},
		{name: "IPv6 client", trusted: proxies, xff: []string{"2001:db8:1::5"}, want: "2001:db8:1::5", wantProto: true},
		{name: "IPv6 trusted peer", trusted: proxies, peer: "[2001:db8:ffff::1]:443", xff: []string{"203.0.113.9"}, want: "203.0.113.9", wantProto: true},
		{name: "IPv4-mapped peer", trusted: proxies, peer: "[::ffff:192.0.2.1]:443", xff: []string{"203.0.113.9"}, want: "203.0.113.9", wantProto: true},
		{name: "an entry with a port", trusted: proxies, xff: []string{"203.0.113.9:5555"}, want: "203.0.113.9", wantProto: true},
		{name: "garbage stops the walk", trusted: proxies, xff: []string{"203.0.113.9, not-an-ip, 10.0.0.7"}, want: "10.0.0.7", wantProto: true},
		{name: "garbage right away", trusted: proxies, xff: []string{"not-an-ip"}, want: "192.0.2.1", wantProto: true},
		{name: "Forwarded", trusted: proxies, fwd: []string{`for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, For=10.0.0.3;by=10.0.0.4`}, want: "2001:db8:cafe::17", wantProto: true},
		{name: "Forwarded unknown", trusted: proxies, fwd: []string{"for=unknown"}, want: "192.0.2.1", wantProto: true},
		{name: "XFF before Forwarded", trusted: proxies, xff: []string{"203.0.113.9"}, fwd: []string{"for=6.6.6.6"}, want: "203.0.113.9", wantProto: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			h := newHarness(t, svc, nil, Options{TrustedProxies: tt.trusted})
			r := formPost(pathToken, "grant_type=password&client_id=c")
			if tt.peer != "" {
				r.RemoteAddr = tt.peer
			}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.fwd {
				r.Header.Add("Forwarded", v)
			}
			r.Header.Set("X-Forwarded-Proto", "https")
			h.do(r)
			if svc.tokenReq.Remote != tt.want || svc.tokenReq.Client.Remote != tt.want {
				t.Errorf("Remote: got %q, client %q; want %q", svc.tokenReq.Remote, svc.tokenReq.Client.Remote, tt.want)
			}
			s := &server{opts: Options{TrustedProxies: tt.trusted}}
			if got := s.fromTrustedProxy(r); got != tt.wantProto {
				t.Errorf("fromTrustedProxy: got %v; want %v", got, tt.wantProto)
			}
		})
	}
}

// TestSecureCookieBehindTrustedProxyOnly: X-Forwarded-Proto makes the
// session cookie Secure only when a trusted proxy sent it.
func TestSecureCookieBehindTrustedProxyOnly(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trusted []netip.Prefix
		want    bool
	}{
		{"untrusted", nil, false},
		{"trusted", []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, &fakeService{}, nil, Options{Issuer: "http://auth.example.com", TrustedProxies: tt.trusted})
			r, _ := http.NewRequest(http.MethodGet, pathLogin, nil)
			r.RemoteAddr = "192.0.2.1:1234"
			r.Header.Set("X-Forwarded-Proto", "https")
			rec := h.do(r)
			var secure, found bool
			for _, c := range rec.Result().Cookies() {
				if c.Name == sessionCookie {
					found, secure = true, c.Secure
				}
			}
			if !found || secure != tt.want {
				t.Errorf("session cookie found %v, Secure %v; want found, Secure %v", found, secure, tt.want)
			}
		})
	}
}
