package listeners

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// Headers of a webhook request. Receivers deduplicate on the event id: a
// retried or redelivered event is posted again with the same id.
const (
	HeaderEventID   = "X-Stamp-Event-Id"
	HeaderEventType = "X-Stamp-Event-Type"
	HeaderSignature = "X-Stamp-Signature"
)

// Webhook defaults.
const (
	DefaultWebhookFilter  = domain.SubjectRoot + ".>"
	DefaultWebhookTimeout = 10 * time.Second
	minWebhookSecret      = 16
)

// WebhookOptions configures a Webhook.
type WebhookOptions struct {
	// Name distinguishes webhooks: the durable consumer is "webhook-"+Name,
	// so it must never change once in use. Letters, digits, '-' and '_'.
	Name string
	// URL receives the POSTs; http or https.
	URL string
	// Secret keys the HMAC signature; at least 16 bytes.
	Secret []byte
	// Types lists the event types to post; empty means all.
	Types []string
	// Filter is the subject filter consumed. Default "stamp.>".
	Filter string
	// Client sends the requests. Default: an http.Client with a 10s
	// timeout.
	Client *http.Client
	// Now stamps signatures. Default time.Now.
	Now func() time.Time
}

// Webhook is a Listener posting each matching event to a URL as JSON,
// {"seq":N,"subject":"...","event":<the envelope as stored>}, signed in
// the X-Stamp-Signature header (see VerifyWebhook). A 2xx answer means
// delivered; any other answer or a transport error is an error, so the
// Runner retries with back-off and finally parks the event. Delivery is at
// least once and in stream order: receivers deduplicate on
// X-Stamp-Event-Id.
//
// Like every listener, a webhook neither sees event types this release
// does not know nor passes an event of a newer schema version (the Runner
// holds it until an upgrade).
//
// Its methods are safe for concurrent use.
type Webhook struct {
	name   string
	url    string
	host   string
	secret []byte
	types  []string
	filter string
	client *http.Client
	now    func() time.Time
}

// NewWebhook returns a Webhook with opts' zero fields taking their
// defaults, or Validate's error.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	u, _ := url.Parse(opts.URL) // validated
	return &Webhook{
		name: "webhook-" + opts.Name, url: opts.URL, host: u.Host,
		secret: bytes.Clone(opts.Secret), types: slices.Clone(opts.Types),
		filter: opts.Filter, client: opts.Client, now: opts.Now,
	}, nil
}

// Validate reports the first invalid field of o, named in the error. It
// changes nothing: a zero Filter, Client or Now is valid and takes its
// default in NewWebhook.
func (o WebhookOptions) Validate() error {
	if !domain.ValidID(o.Name) {
		return fmt.Errorf("listeners: webhook name %q: want 1 to 128 letters, digits, '-' or '_'", o.Name)
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("listeners: webhook %s: URL must be an absolute http or https URL", o.Name)
	}
	if len(o.Secret) < minWebhookSecret {
		return fmt.Errorf("listeners: webhook %s: secret must be at least %d bytes", o.Name, minWebhookSecret)
	}
	known := domain.EventTypes()
	for _, t := range o.Types {
		if !slices.Contains(known, t) {
			return fmt.Errorf("listeners: webhook %s: unknown event type %q", o.Name, t)
		}
	}
	return nil
}

// withDefaults returns o with the defaults in place of a zero Filter,
// Client and Now.
func (o WebhookOptions) withDefaults() WebhookOptions {
	if o.Filter == "" {
		o.Filter = DefaultWebhookFilter
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DefaultWebhookTimeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Name returns "webhook-" followed by the configured name.
func (w *Webhook) Name() string { return w.name }

// Filter returns the configured subject filter.
func (w *Webhook) Filter() string { return w.filter }

// webhookBody is the JSON posted for one event.
type webhookBody struct {
	Seq     uint64          `json:"seq"`
	Subject string          `json:"subject"`
	Event   domain.Envelope `json:"event"`
}

// Handle posts rec unless its type is filtered out. It returns an error for
// a transport failure or a non-2xx answer. Errors name the URL's host only,
// since a URL may carry credentials.
func (w *Webhook) Handle(ctx context.Context, rec domain.Recorded, _ domain.Event) error {
	if len(w.types) > 0 && !slices.Contains(w.types, rec.Envelope.Type) {
		return nil
	}
	body, err := json.Marshal(webhookBody{Seq: rec.Seq, Subject: rec.Subject, Event: rec.Envelope})
	if err != nil {
		return fmt.Errorf("listeners: %s: encode event %d: %w", w.name, rec.Seq, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("listeners: %s: build request: %w", w.name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "stamp-webhook")
	req.Header.Set(HeaderEventID, rec.Envelope.ID)
	req.Header.Set(HeaderEventType, rec.Envelope.Type)
	req.Header.Set(HeaderSignature, SignWebhook(w.secret, w.now(), body))
	resp, err := w.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("listeners: %s: post to %s: %w", w.name, w.host, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("listeners: %s: %s answered %s", w.name, w.host, resp.Status)
	}
	return nil
}
