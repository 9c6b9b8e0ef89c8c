package httpapi

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// pathLogKeys serves the public halves of the log-signing keys, so that
// anyone auditing the event log (stamp verify --public-key) can check the
// signature every event carries.
const pathLogKeys = "/.well-known/stamp-log-keys.json"

// LogKey is one log-signing public key as GET
// /.well-known/stamp-log-keys.json serves it: a JWK (kty OKP, crv
// Ed25519, x the raw public key in base64url) with the log's adoption
// point, after which every event must carry its signature.
type LogKey struct {
	KeyID     string `json:"kid"`
	PublicKey string `json:"x"`
	AdoptedAt uint64 `json:"adopted_at"`
}

type logKeyJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	LogKey
}

// logKeys answers GET /.well-known/stamp-log-keys.json: {"keys": [...]}.
func (s *server) logKeys(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	set := struct {
		Keys []logKeyJWK `json:"keys"`
	}{Keys: []logKeyJWK{}}
	for _, k := range s.opts.LogKeys {
		set.Keys = append(set.Keys, logKeyJWK{Kty: "OKP", Crv: "Ed25519", Use: "stamp-log", Alg: "EdDSA", LogKey: k})
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	s.respond(w, r, http.StatusOK, set)
}
