package listeners

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

var webhookSecret = []byte("0123456789abcdef-webhook")

// receiver is an httptest webhook receiver that verifies signatures the
// way the README tells receivers to.
type receiver struct {
	status int

	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	errs    []error
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err == nil {
		err = VerifyWebhook(webhookSecret, req.Header.Get(HeaderSignature), body, time.Now(), 0)
	}
	r.mu.Lock()
	r.bodies, r.headers, r.errs = append(r.bodies, body), append(r.headers, req.Header.Clone()), append(r.errs, err)
	r.mu.Unlock()
	w.WriteHeader(r.status)
}

func newWebhook(t *testing.T, url string, types ...string) *Webhook {
	t.Helper()
	w, err := NewWebhook(WebhookOptions{Name: "audit", URL: url, Secret: webhookSecret, Types: types})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func tokenCreated(t *testing.T) domain.Recorded {
	return record(t, 42, "evt-42", domain.AccessTokenCreated{
		TokenID: "jti1", ClientID: "c1", UserID: "u1", GrantType: domain.GrantPassword,
		IssuedAt: t0, ExpiresAt: t0.Add(time.Hour),
	})
}

func TestWebhookPostsSignedEvent(t *testing.T) {
	rcv := &receiver{status: http.StatusNoContent}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	w := newWebhook(t, srv.URL)
	if got, want := w.Name(), "webhook-audit"; got != want {
		t.Errorf("Name: got %q; want %q", got, want)
	}
	if got, want := w.Filter(), "stamp.>"; got != want {
		t.Errorf("Filter: got %q; want %q", got, want)
	}
	rec := tokenCreated(t)
	if err := handle(t, w, rec); err != nil {
		t.Fatalf("Handle: got %v; want nil", err)
	}
	if len(rcv.bodies) != 1 {
		t.Fatalf("requests: got %d; want 1", len(rcv.bodies))
	}
	if err := rcv.errs[0]; err != nil {
		t.Errorf("receiver's VerifyWebhook: got %v; want nil", err)
	}
	h := rcv.headers[0]
	for k, want := range map[string]string{
		"Content-Type": "application/json", HeaderEventID: "evt-42", HeaderEventType: "AccessTokenCreated",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s: got %q; want %q", k, got, want)
		}
	}
	var body struct {
		Seq     uint64          `json:"seq"`
		Subject string          `json:"subject"`
		Event   domain.Envelope `json:"event"`
	}
	if err := json.Unmarshal(rcv.bodies[0], &body); err != nil {
		t.Fatal(err)
	}
	subject := domain.Aggregate{Kind: domain.KindToken, ID: "jti1"}.Subject("AccessTokenCreated")
	if body.Seq != 42 || body.Subject != subject || body.Event.ID != "evt-42" {
		t.Errorf("body: got seq %d subject %q id %q; want 42 %s evt-42", body.Seq, body.Subject, body.Event.ID, subject)
	}
	if got := domain.DataField(body.Event.Data, "token_id"); got != "jti1" {
		t.Errorf("event data token_id: got %q; want %q", got, "jti1")
	}
}

func TestWebhookErrorsOnFailureStatus(t *testing.T) {
	srv := httptest.NewServer(&receiver{status: http.StatusInternalServerError})
	defer srv.Close()
	err := handle(t, newWebhook(t, srv.URL), tokenCreated(t))
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("Handle: got %v; want an error naming the 500", err)
	}
}

func TestWebhookErrorsOnTransportFailure(t *testing.T) {
	srv := httptest.NewServer(&receiver{status: http.StatusOK})
	url := srv.URL
	srv.Close()
	if err := handle(t, newWebhook(t, url+"/hook?token=s3cret"), tokenCreated(t)); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Handle: got %v; want an error without the URL's query", err)
	}
}

func TestWebhookSkipsOtherTypes(t *testing.T) {
	rcv := &receiver{status: http.StatusOK}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	if err := handle(t, newWebhook(t, srv.URL, "AccessTokenRevoked"), tokenCreated(t)); err != nil {
		t.Fatalf("Handle: got %v; want nil", err)
	}
	if got := len(rcv.bodies); got != 0 {
		t.Errorf("requests: got %d; want 0", got)
	}
}

func TestNewWebhookValidates(t *testing.T) {
	ok := WebhookOptions{Name: "a", URL: "https://example.com/hook", Secret: webhookSecret}
	for name, mutate := range map[string]func(*WebhookOptions){
		"short secret": func(o *WebhookOptions) { o.Secret = []byte("short") },
		"no name":      func(o *WebhookOptions) { o.Name = "" },
		"dotted name":  func(o *WebhookOptions) { o.Name = "a.b" },
		"relative URL": func(o *WebhookOptions) { o.URL = "/hook" },
		"ftp URL":      func(o *WebhookOptions) { o.URL = "ftp://example.com" },
		"unknown type": func(o *WebhookOptions) { o.Types = []string{"TokenMinted"} },
	} {
		o := ok
		mutate(&o)
		if _, err := NewWebhook(o); err == nil {
			t.Errorf("%s: got nil; want an error", name)
		}
	}
	if _, err := NewWebhook(ok); err != nil {
		t.Errorf("valid options: got %v; want nil", err)
	}
}

func TestVerifyWebhook(t *testing.T) {
	body := []byte(`{"seq":1}`)
	now := time.Unix(1_700_000_000, 0)
	good := SignWebhook(webhookSecret, now, body)
	rotated := SignWebhook([]byte("the-old-secret-0123"), now, body) + "," + strings.Split(good, ",")[1]
	for _, tc := range []struct {
		name    string
		secret  []byte
		header  string
		body    []byte
		now     time.Time
		wantErr bool
	}{
		{"valid", webhookSecret, good, body, now, false},
		{"valid within tolerance", webhookSecret, good, body, now.Add(4 * time.Minute), false},
		{"second v1 matches", webhookSecret, rotated, body, now, false},
		{"wrong secret", []byte("another-secret-0123456"), good, body, now, true},
		{"tampered body", webhookSecret, good, []byte(`{"seq":2}`), now, true},
		{"too old", webhookSecret, good, body, now.Add(6 * time.Minute), true},
		{"from the future", webhookSecret, good, body, now.Add(-6 * time.Minute), true},
		{"no signature", webhookSecret, strings.Split(good, ",")[0], body, now, true},
		{"no timestamp", webhookSecret, strings.Split(good, ",")[1], body, now, true},
		{"garbage", webhookSecret, "nonsense", body, now, true},
		{"empty", webhookSecret, "", body, now, true},
	} {
		err := VerifyWebhook(tc.secret, tc.header, tc.body, tc.now, 5*time.Minute)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: got %v; want error %v", tc.name, err, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrWebhookSignature) {
			t.Errorf("%s: got %v; want it to wrap ErrWebhookSignature", tc.name, err)
		}
	}
}
