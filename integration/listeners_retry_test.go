package integration

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/listeners"
)

// TestListenerRetry: an event a webhook parked while its receiver was down
// is re-driven by `stamp listeners retry` once the receiver is back: the
// request is an event of the log (ListenerRetryRequested, on the
// listener's subject, by the CLI), the receiver gets the event once, and
// it is no longer parked. Asking again, or for an event that is not
// parked, is refused with a readable message.
func TestListenerRetry(t *testing.T) {
	types := []string{"AccessTokenRevoked"}
	hook := newHookReceiver("0123456789abcdef0123", types)
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	cfg, err := json.Marshal(map[string]any{
		"max_attempts": 2,
		"webhooks":     []map[string]any{{"name": "retry", "url": srv.URL, "secret": "0123456789abcdef0123", "types": types}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "STAMP_LISTENERS", string(cfg))
	n := e.start()
	waitSettled(t, n, "webhook-retry", 0, 15*time.Second)
	waitSettled(t, n, listeners.RetrierName, 0, 15*time.Second)
	clientID, secret := e.createClient(n, "hooked")

	// The receiver fails for good: the revocation is parked.
	hook.fail("AccessTokenRevoked", -1)
	from := lastSeq(t, n) + 1
	revokeToken(t, n, clientID, secret, issueClientToken(t, n, clientID, secret))
	lost := eventsSince(t, n, from, "AccessTokenRevoked")[0]
	waitSettled(t, n, "webhook-retry", lastSeq(t, n), 15*time.Second)
	if parked := parkedBy(t, n, "webhook-retry"); len(parked) != 1 || parked[0].Seq != lost.Seq {
		t.Fatalf("parked %+v; want the revocation at %d", parked, lost.Seq)
	}

	// Usage errors change nothing.
	for _, args := range [][]string{
		{"listeners", "retry", "webhook-retry"},
		{"listeners", "retry", "webhook-retry", "--all", "--event", fmt.Sprint(lost.Seq)},
		{"listeners", "retry", "--all"},
	} {
		if code, _, errOut := e.run(args...); code != 2 || !strings.Contains(errOut, "--event SEQ | --all") {
			t.Errorf("%v: exit %d, %q; want 2 and the usage", args, code, errOut)
		}
	}
	if code, _, errOut := e.run("listeners", "retry", "webhook-retry", "--event", fmt.Sprint(lost.Seq+1000)); code != 1 || !strings.Contains(errOut, "no parked event") {
		t.Errorf("retry of an event not parked: exit %d, %q; want 1 and a readable message", code, errOut)
	}

	// The receiver is back: the operator re-drives the event.
	hook.fail("AccessTokenRevoked", 0)
	before := lastSeq(t, n)
	code, out, errOut := e.run("listeners", "retry", "webhook-retry", "--event", fmt.Sprint(lost.Seq), "--json")
	if code != 0 {
		t.Fatalf("stamp listeners retry: exit %d: %s", code, errOut)
	}
	// --json: snake_case keys (the three below, strictly), no null.
	var report struct {
		Listener   string   `json:"listener"`
		Events     []uint64 `json:"events"`
		RequestSeq uint64   `json:"request_seq"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&report); err != nil || strings.Contains(out, "null") || report.Listener != "webhook-retry" || len(report.Events) != 1 || report.Events[0] != lost.Seq || report.RequestSeq <= before {
		t.Fatalf("stamp listeners retry --json printed %q (%v); want the listener, [%d] and the request's sequence", out, err, lost.Seq)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if hook.snapshot().delivered[lost.Envelope.ID] == 1 && len(parkedBy(t, n, "webhook-retry")) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the retry: delivered %d times, parked %+v; want delivered once, nothing parked",
				hook.snapshot().delivered[lost.Envelope.ID], parkedBy(t, n, "webhook-retry"))
		}
	}
	requests := eventsSince(t, n, before+1, "ListenerRetryRequested")
	if len(requests) != 1 || requests[0].Seq != report.RequestSeq || requests[0].Subject != "stamp.listener.webhook-retry.ListenerRetryRequested" ||
		requests[0].Envelope.Actor.Kind != domain.ActorCLI {
		t.Errorf("retry requests in the log %+v; want one, by the CLI, on stamp.listener.webhook-retry.ListenerRetryRequested", requests)
	}
	e2, err := domain.Decode(requests[0].Envelope)
	if req, ok := e2.(domain.ListenerRetryRequested); err != nil || !ok || req.Listener != "webhook-retry" || req.Seq != lost.Seq || req.All {
		t.Errorf("the request decodes to %+v, %v; want webhook-retry, seq %d", e2, err, lost.Seq)
	}

	// Nothing is parked any more: asking again is refused.
	if code, _, errOut := e.run("listeners", "retry", "webhook-retry", "--all"); code != 1 || !strings.Contains(errOut, "no parked events") {
		t.Errorf("retry --all with nothing parked: exit %d, %q; want 1 and a readable message", code, errOut)
	}
	code, out, errOut = e.run("listeners", "--json")
	if code != 0 || !strings.Contains(out, `"parked":[]`) {
		t.Errorf("stamp listeners --json after the retry: exit %d, %q %q; want no parked event", code, out, errOut)
	}
}
