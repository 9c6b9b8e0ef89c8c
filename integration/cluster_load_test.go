package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Operation kinds of the load.
const (
	opIssue      = "issue"
	opIntrospect = "introspect"
	opRevoke     = "revoke"
)

// opRecord is one HTTP operation of the load and its outcome.
type opRecord struct {
	kind       string
	inst       int
	start, end time.Time
	status     int // 0: no answer (transport error or client timeout)
	retryAfter bool
	err        string // the transport error, or the start of an error answer's body
}

// issuedToken is an access token an instance acknowledged.
type issuedToken struct {
	jti, token string
	inst       int
	at         time.Time // when issuance returned
}

// httpTimeout bounds every request of the load: an answer that takes
// longer counts as no answer (a hang).
const httpTimeout = 15 * time.Second

// call does one form POST with the load client's credentials and records it.
func (d *loadDriver) call(kind string, inst int, path string, form url.Values) (opRecord, []byte) {
	rec := opRecord{kind: kind, inst: inst, start: time.Now()}
	req, err := http.NewRequest(http.MethodPost, d.sc.nodes[inst].HTTPURL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		d.sc.t.Errorf("request: %v", err)
		return rec, nil
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(d.sc.clientID), url.QueryEscape(d.sc.secret))
	resp, err := d.http.Do(req)
	var body []byte
	if err != nil {
		rec.err = err.Error()
	} else {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		rec.status = resp.StatusCode
		rec.retryAfter = resp.Header.Get("Retry-After") != ""
		if err != nil {
			rec.status, rec.err = 0, err.Error()
		} else if rec.status != http.StatusOK {
			rec.err = string(body[:min(len(body), 160)])
		}
	}
	rec.end = time.Now()
	d.mu.Lock()
	d.ops = append(d.ops, rec)
	d.mu.Unlock()
	return rec, body
}

// issue asks instance inst for a client-credentials token.
func (d *loadDriver) issue(inst int) (issuedToken, bool) {
	rec, body := d.call(opIssue, inst, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	if rec.status != http.StatusOK {
		return issuedToken{}, false
	}
	var got struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &got); err != nil || got.AccessToken == "" {
		d.sc.t.Errorf("issue on %d: 200 with %q", inst, body)
		return issuedToken{}, false
	}
	jti, err := clusterJTI(got.AccessToken)
	if err != nil {
		d.sc.t.Errorf("issue on %d: %v", inst, err)
		return issuedToken{}, false
	}
	tok := issuedToken{jti: jti, token: got.AccessToken, inst: inst, at: rec.end}
	d.mu.Lock()
	d.issued = append(d.issued, tok)
	d.mu.Unlock()
	return tok, true
}

// introspect asks instance inst about tok; ok is false when it did not
// answer 200 with a JSON document.
func (d *loadDriver) introspect(inst int, tok issuedToken) (active, ok bool) {
	rec, body := d.call(opIntrospect, inst, "/oauth/introspect", url.Values{"token": {tok.token}})
	if rec.status != http.StatusOK {
		return false, false
	}
	var got struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		d.sc.t.Errorf("introspect on %d: 200 with %q", inst, body)
		return false, false
	}
	return got.Active, true
}

// revoke asks instance inst to revoke tok (RFC 7009) and returns the
// status (0: no answer).
func (d *loadDriver) revoke(inst int, tok issuedToken) int {
	rec, _ := d.call(opRevoke, inst, "/oauth/revoke", url.Values{"token": {tok.token}, "token_type_hint": {"access_token"}})
	d.mu.Lock()
	if rec.status == http.StatusOK {
		d.revoked = append(d.revoked, revokedToken{issuedToken: tok, at: rec.end, inst: inst})
	}
	if rec.status != http.StatusNotFound {
		// Without an answer or with a 503, the revocation may or may not
		// be in the log: the token's state is unknown from here on.
		d.revokeTried[tok.jti] = true
	}
	d.mu.Unlock()
	return rec.status
}

type revokedToken struct {
	issuedToken
	inst int       // the instance that acknowledged the revocation
	at   time.Time // when the revocation returned
}

// jtiOf reads the jti claim of a JWT without verifying it (the test only
// needs the id it will look for in the log).
func clusterJTI(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("access token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.JTI == "" {
		return "", errors.New("access token has no jti")
	}
	return c.JTI, nil
}

// check asks a checker to poll an instance until it answers as it should
// have at since: a token active (kind opIssue) or inactive (opRevoke).
type check struct {
	kind  string
	inst  int
	tok   issuedToken
	since time.Time
}

// lagSample is how long after at (when issuance or revocation returned)
// an instance first answered as it should.
type lagSample struct {
	at  time.Time
	lag time.Duration
}

// convergeTimeout bounds how long a checker polls one instance.
const convergeTimeout = 30 * time.Second

// loadDriver runs the mixed load against a stampCluster and records what
// happened. Its counters are guarded by mu.
type loadDriver struct {
	sc   *stampCluster
	http *http.Client

	mu      sync.Mutex
	ops     []opRecord
	issued  []issuedToken
	revoked []revokedToken
	// revokeTried holds the jti of every token whose revocation was
	// acknowledged or may have been recorded (no answer, 503), so that a
	// check for an issued token does not wait for a token revoked since.
	revokeTried map[string]bool
	// Read-your-writes across instances: a token not active on an
	// instance right after issuance returned (stale), not active within
	// convergeTimeout (never), and how long each check took to see it.
	rywChecks, rywStale, rywNever int
	rywLag                        []lagSample
	// localStale counts tokens the issuing instance itself did not
	// report active right after issuing them (DESIGN.md, principle 3).
	localStale int
	// Revocations: a revoked token active on an instance right after the
	// revocation returned or later (stale), still active after
	// convergeTimeout (never), and how long each check took.
	revChecks, revStale, revNever int
	revLag                        []lagSample
	revokeNotFound                int // 404 on revoking a token another instance issued
	unmeasured                    int // checks dropped because the queue was full
}

func newLoadDriver(sc *stampCluster) *loadDriver {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
	sc.t.Cleanup(tr.CloseIdleConnections)
	return &loadDriver{sc: sc, http: &http.Client{Timeout: httpTimeout, Transport: tr}, revokeTried: map[string]bool{}}
}

// run drives the load until ctx ends, then waits for every goroutine: one
// issuer per instance (each at most one issuance per pace), one revoker
// and two checkers. Bounded: every request has httpTimeout, every check
// convergeTimeout.
func (d *loadDriver) run(ctx context.Context, pace time.Duration) {
	n := len(d.sc.nodes)
	checks := make(chan check, 4096)
	revokes := make(chan issuedToken, 256)
	var producers, checkers sync.WaitGroup
	enqueue := func(c check) {
		select {
		case checks <- c:
		default:
			d.mu.Lock()
			d.unmeasured++
			d.mu.Unlock()
		}
	}
	for i := range n {
		producers.Add(1)
		go func() {
			defer producers.Done()
			tick := time.NewTicker(pace)
			defer tick.Stop()
			for count := 0; ; count++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				tok, ok := d.issue(i)
				if !ok {
					continue
				}
				for j := range n {
					d.immediate(opIssue, j, tok, tok.at, enqueue)
				}
				if count%3 == 0 {
					select {
					case revokes <- tok:
					default:
					}
				}
			}
		}()
	}
	producers.Add(1)
	go func() {
		defer producers.Done()
		for {
			var tok issuedToken
			select {
			case <-ctx.Done():
				return
			case tok = <-revokes:
			}
			inst := (tok.inst + 1) % n // revoke on another instance than the issuer
			switch d.revoke(inst, tok) {
			case http.StatusOK:
				at := time.Now()
				for j := range n {
					d.immediate(opRevoke, j, tok, at, enqueue)
				}
			case http.StatusNotFound:
				d.mu.Lock()
				d.revokeNotFound++
				d.mu.Unlock()
			}
		}
	}()
	for range 2 {
		checkers.Add(1)
		go func() {
			defer checkers.Done()
			for c := range checks {
				d.converge(c)
			}
		}()
	}
	producers.Wait()
	close(checks)
	checkers.Wait()
}

// immediate asks instance inst about tok at once and, unless it answers as
// it should (active after issuance, inactive after revocation), counts a
// stale answer and queues a check that measures when it converges.
func (d *loadDriver) immediate(kind string, inst int, tok issuedToken, since time.Time, enqueue func(check)) {
	active, ok := d.introspect(inst, tok)
	want := kind == opIssue
	d.mu.Lock()
	if kind == opIssue {
		d.rywChecks++
	} else {
		d.revChecks++
	}
	switch {
	case ok && active == want:
		if kind == opIssue {
			d.rywLag = append(d.rywLag, lagSample{since, time.Since(since)})
		} else {
			d.revLag = append(d.revLag, lagSample{since, time.Since(since)})
		}
		d.mu.Unlock()
		return
	case ok && kind == opIssue && inst == tok.inst:
		d.localStale++
		d.rywStale++
	case ok && kind == opIssue:
		d.rywStale++
	case ok:
		d.revStale++
	}
	d.mu.Unlock()
	enqueue(check{kind: kind, inst: inst, tok: tok, since: since})
}

// converge polls until c's instance answers as it should and records how
// long that took after c.since, or counts it as never.
func (d *loadDriver) converge(c check) {
	want := c.kind == opIssue
	deadline := c.since.Add(convergeTimeout)
	for {
		d.mu.Lock()
		revoked := want && d.revokeTried[c.tok.jti]
		if revoked {
			d.unmeasured++ // revoked meanwhile: inactive is right now
		}
		d.mu.Unlock()
		if revoked {
			return
		}
		active, ok := d.introspect(c.inst, c.tok)
		if ok && active == want {
			lag := time.Since(c.since)
			d.mu.Lock()
			if want {
				d.rywLag = append(d.rywLag, lagSample{c.since, lag})
			} else {
				d.revLag = append(d.revLag, lagSample{c.since, lag})
			}
			d.mu.Unlock()
			return
		}
		if time.Now().After(deadline) {
			d.mu.Lock()
			if want {
				d.rywNever++
			} else {
				d.revNever++
			}
			d.mu.Unlock()
			return
		}
		time.Sleep(time.Duration(5+rand.IntN(10)) * time.Millisecond)
	}
}

// sweepSample bounds how many unrevoked tokens sweep asks each instance
// about (every revoked one is asked about).
const sweepSample = 3000

// sweep runs once the load has stopped: it asks every instance about every
// token the log holds a revocation of and a sample of the others. A
// revoked token (revoked, from the log) must be inactive, any other
// active. A wrong answer is polled until it turns right, within
// convergeTimeout; sweep returns how many answers were wrong at first, by
// kind, and a description of each instance that stayed wrong (then it
// stops asking that instance).
func (d *loadDriver) sweep(revoked map[string]bool) (revokedActive, issuedInactive int, stuck []string) {
	d.mu.Lock()
	var toks, others []issuedToken
	for _, tok := range d.issued {
		if revoked[tok.jti] {
			toks = append(toks, tok)
		} else {
			others = append(others, tok)
		}
	}
	d.mu.Unlock()
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	toks = append(toks, others[:min(len(others), sweepSample)]...)
	for inst := range d.sc.nodes {
	tokens:
		for _, tok := range toks {
			want := !revoked[tok.jti]
			deadline := time.Now().Add(convergeTimeout)
			for first := true; ; first = false {
				active, ok := d.introspect(inst, tok)
				if ok && active == want {
					break
				}
				if first && ok && want {
					issuedInactive++
				} else if first && ok {
					revokedActive++
				}
				if time.Now().After(deadline) {
					stuck = append(stuck, fmt.Sprintf("instance %d: token %s (issued by %d) answered active=%v ok=%v for %s; the log says revoked=%v",
						inst, tok.jti, tok.inst, active, ok, convergeTimeout, !want))
					break tokens
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	return revokedActive, issuedInactive, stuck
}
