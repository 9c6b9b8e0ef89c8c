package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many forwarding entries clientAddr reads.
const maxForwardedHops = 32

// clientAddr returns the address of the client that sent r: the one
// address every rate limit counts against. It is the peer's address
// (r.RemoteAddr), unless the peer is a trusted proxy
// (Options.TrustedProxies): then it is the right-most address of
// X-Forwarded-For (or, when that header is absent, of Forwarded's "for"
// parameters, RFC 7239) that is not itself a trusted proxy, since each
// proxy appends the address it received the request from and only what
// trusted proxies appended can be believed. When every entry is trusted
// it is the left-most; an entry that is not an address ends the walk at
// the last address read. Without trusted proxies both headers are
// ignored, so a client cannot choose the address it is counted under.
func (s *server) clientAddr(r *http.Request) string {
	peer, ok := peerAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	if !s.trusted(peer) {
		return peer.String()
	}
	hops := forwardedFor(r.Header)
	addr := peer
	for i := len(hops) - 1; i >= 0 && i >= len(hops)-maxForwardedHops; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		addr = a
		if !s.trusted(a) {
			break
		}
	}
	return addr.String()
}

// fromTrustedProxy reports whether r's peer is a trusted proxy, whose
// X-Forwarded-Proto may be believed.
func (s *server) fromTrustedProxy(r *http.Request) bool {
	peer, ok := peerAddr(r)
	return ok && s.trusted(peer)
}

// trusted reports whether a is in one of Options.TrustedProxies.
func (s *server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr returns the address of r's peer, IPv4-mapped IPv6 as IPv4.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// forwardedFor returns the forwarding entries of h, left (the first
// proxy's client) to right (the last proxy's peer): every
// X-Forwarded-For entry, or when there is none, every "for" of Forwarded.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		for e := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(e))
		}
	}
	if len(hops) > 0 {
		return hops
	}
	for _, v := range h.Values("Forwarded") {
		for elem := range strings.SplitSeq(v, ",") {
			hop := "" // an element without "for" is an unknown hop
			for pair := range strings.SplitSeq(elem, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(k, "for") {
					hop = strings.Trim(val, `"`)
				}
			}
			hops = append(hops, hop)
		}
	}
	return hops
}

// parseHop parses one forwarding entry: an address, maybe with a port
// ("192.0.2.1:80", "[2001:db8::1]:80") or brackets ("[2001:db8::1]").
// "unknown", obfuscated names ("_hidden") and garbage are not addresses.
func parseHop(hop string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(hop, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
