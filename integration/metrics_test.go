package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// families is one scrape, parsed as Prometheus parses it.
type families map[string]*dto.MetricFamily

// scrape GETs u and parses the text exposition.
func scrape(t *testing.T, u string) families {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: parse: %v", u, err)
	}
	return fams
}

// value sums the samples of family name whose labels include want: a
// counter's or gauge's value, a histogram's count. A family or sample
// that is absent counts 0.
func (f families) value(name string, want map[string]string) float64 {
	fam, ok := f[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// has reports whether family name has a sample whose labels include
// label=value ("" label: any sample).
func (f families) has(name, label, value string) bool {
	fam, ok := f[name]
	if !ok {
		return false
	}
	for _, m := range fam.GetMetric() {
		if label == "" {
			return true
		}
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return true
			}
		}
	}
	return false
}

// TestMetricsMove drives a real node — issuance, introspection,
// revocation, a wrong user password, wrong client secrets until the
// address is rate limited — and checks that each family of /metrics moved
// (or, for lag and parked counts, which stay 0 on a healthy node, is
// there), that no raw path becomes a route label, and that every metric
// the starter alerts name is in the scrape.
func TestMetricsMove(t *testing.T) {
	e := newEnv(t, "STAMP_PASSWORD_GRANT", "true", "STAMP_LISTENERS", `{"revoke_old_tokens":true}`)
	n := e.start()
	if n.MetricsURL() != n.HTTPURL()+"/metrics" {
		t.Fatalf("MetricsURL = %q; want the HTTP port's /metrics", n.MetricsURL())
	}
	before := scrape(t, n.MetricsURL())

	id, secret := e.createClient(n, "metrics")
	pwID, pwSecret := e.newClient(n, "--password", "--name", "Password app")
	var tokens []string
	for range 3 {
		status, _, body := postForm(t, n.HTTPURL()+"/oauth/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
		if status != http.StatusOK {
			t.Fatalf("token: %d %s", status, body)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(body, &tok); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok.AccessToken)
	}
	if got := introspect(t, n, id, secret, tokens[0]); got["active"] != true {
		t.Fatalf("introspect: %v; want active", got)
	}
	if status, _, body := postForm(t, n.HTTPURL()+"/oauth/revoke", id, secret, url.Values{"token": {tokens[0]}}); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if status, _, body := postForm(t, n.HTTPURL()+"/oauth/token", pwID, pwSecret, url.Values{"grant_type": {"password"},
		"username": {"nobody@example.test"}, "password": {"wrong"}}); status == http.StatusOK {
		t.Fatalf("password grant for nobody: %d %s; want a refusal", status, body)
	}
	if resp, err := http.Get(n.HTTPURL() + "/no/such/path/x7"); err == nil {
		resp.Body.Close()
	}
	// Last: the address's client failures (burst 20) run out, and every
	// client authentication from it is refused for a while.
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		status, _, _ := postForm(t, n.HTTPURL()+"/oauth/token", id, "wrong", url.Values{"grant_type": {"client_credentials"}})
		limited = status == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("40 wrong client secrets from one address were never answered 429")
	}

	after := scrape(t, n.MetricsURL())
	moved := []struct {
		name    string
		labels  map[string]string
		atLeast float64
	}{
		{"stamp_http_requests_total", map[string]string{"route": "/oauth/token", "method": "POST", "status": "200"}, 3},
		{"stamp_http_requests_total", map[string]string{"route": "/oauth/introspect", "status": "200"}, 1},
		{"stamp_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, 1},
		{"stamp_http_requests_total", map[string]string{"route": "/oauth/token", "status": "429"}, 1},
		{"stamp_http_request_duration_seconds", map[string]string{"route": "/oauth/token", "method": "POST"}, 3},
		{"stamp_tokens_issued_total", map[string]string{"grant_type": "client_credentials"}, 3},
		{"stamp_revocations_total", map[string]string{"event": "AccessTokenRevoked"}, 1},
		{"stamp_authentication_failures_total", map[string]string{"kind": "client"}, 20},
		{"stamp_authentication_failures_total", map[string]string{"kind": "user"}, 1},
		{"stamp_rate_limit_refusals_total", map[string]string{"rate": "client-address"}, 1},
		{"stamp_append_duration_seconds", nil, 4}, // 3 issuances, 1 revocation (the CLI appends itself)
		{"stamp_projection_applied_sequence", map[string]string{"set": "read_models"}, 5},
		{"stamp_stream_last_sequence", nil, 5},
	}
	for _, m := range moved {
		if d := after.value(m.name, m.labels) - before.value(m.name, m.labels); d < m.atLeast {
			t.Errorf("%s%v moved by %v; want at least %v", m.name, m.labels, d, m.atLeast)
		}
	}
	present := []struct{ name, label, value string }{
		{"stamp_append_conflicts_total", "", ""},
		{"stamp_append_failures_total", "", ""},
		{"stamp_projection_lag_events", "set", "read_models"},
		{"stamp_projection_parked_events", "blocking", "true"},
		{"stamp_listener_lag_events", "listener", "revoke-old-tokens"},
		{"stamp_listener_parked_events", "listener", "revoke-old-tokens"},
		{"stamp_nats_connected", "", ""},
		{"stamp_build_info", "", ""},
		{"go_goroutines", "", ""},
	}
	for _, p := range present {
		if !after.has(p.name, p.label, p.value) {
			t.Errorf("the scrape has no %s{%s=%q}", p.name, p.label, p.value)
		}
	}
	if after.value("stamp_nats_connected", nil) != 1 || after.value("stamp_build_info", nil) != 1 {
		t.Errorf("stamp_nats_connected %v, stamp_build_info %v; want 1 and 1",
			after.value("stamp_nats_connected", nil), after.value("stamp_build_info", nil))
	}
	for _, m := range after["stamp_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), "x7") {
				t.Errorf("a raw path became a route label: %q", l.GetValue())
			}
		}
	}

	// The starter alerts: the stamp group names only metrics of this
	// scrape, the guard's only metrics of a guard's collector.
	g := startGuard(t, n, "http://stamp.test")
	reg := prometheus.NewRegistry()
	reg.MustRegister(g.Collector())
	guardFams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	guardScrape := families{}
	for _, f := range guardFams {
		guardScrape[f.GetName()] = f
	}
	checkAlerts(t, map[string]families{"stamp": after, "stamp-guard": guardScrape})
}

// alertMetric finds the metric names of a PromQL expression: stamp's
// names all start with stamp_.
var alertMetric = regexp.MustCompile(`\bstamp_[a-z0-9_]+`)

// checkAlerts parses deploy/prometheus/alerts.yml and checks that each
// group is one of scrapes, each rule an alert with an expression, a
// severity and a summary, and each metric an expression names (a
// histogram's _bucket, _count or _sum series by its family) is a family
// of the group's scrape.
func checkAlerts(t *testing.T, scrapes map[string]families) {
	t.Helper()
	b, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	alerts := 0
	for _, g := range doc.Groups {
		scrape, ok := scrapes[g.Name]
		if !ok {
			t.Errorf("alerts.yml: group %q is none of %v", g.Name, keys(scrapes))
			continue
		}
		for _, r := range g.Rules {
			alerts++
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alerts.yml: rule %q needs alert, expr, a severity label and a summary", r.Alert)
			}
			if _, err := model.ParseDuration(orZero(r.For)); err != nil {
				t.Errorf("alerts.yml: %s: for %q: %v", r.Alert, r.For, err)
			}
			names := alertMetric.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("alerts.yml: %s names no stamp_ metric", r.Alert)
			}
			for _, name := range names {
				if _, ok := scrape[name]; ok {
					continue
				}
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
				if f, ok := scrape[base]; ok && f.GetType() == dto.MetricType_HISTOGRAM {
					continue
				}
				t.Errorf("alerts.yml: %s uses %s, which the scrape does not have", r.Alert, name)
			}
		}
	}
	if alerts < 10 {
		t.Errorf("alerts.yml: %d alerts; want the starter set (at least 10)", alerts)
	}
}

func orZero(d string) string {
	if d == "" {
		return "0s"
	}
	return d
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestMetricsSettings: metrics_address moves /metrics to an admin
// listener (the HTTP port then has none); metrics_enabled false serves
// none anywhere.
func TestMetricsSettings(t *testing.T) {
	e := newEnv(t, "STAMP_METRICS_ADDRESS", "127.0.0.1:0")
	n := e.start()
	if strings.HasPrefix(n.MetricsURL(), n.HTTPURL()) || !strings.HasSuffix(n.MetricsURL(), "/metrics") {
		t.Fatalf("MetricsURL = %q with metrics_address set; want the admin listener's", n.MetricsURL())
	}
	if f := scrape(t, n.MetricsURL()); f.value("stamp_build_info", nil) != 1 {
		t.Errorf("the admin listener's scrape has no stamp_build_info")
	}
	assertStatus(t, n.HTTPURL()+"/metrics", http.StatusNotFound)

	off := newEnv(t, "STAMP_METRICS_ENABLED", "false").start()
	if off.MetricsURL() != "" {
		t.Errorf("MetricsURL = %q with metrics off; want empty", off.MetricsURL())
	}
	assertStatus(t, off.HTTPURL()+"/metrics", http.StatusNotFound)
}

func assertStatus(t *testing.T, u string, want int) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Errorf("GET %s: %d; want %d", u, resp.StatusCode, want)
	}
}
