package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// get does a GET of url and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: enginetest.Timeout}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestReadyz: the telemetry listener of [telemetry] answers /livez at
// once; /readyz is 503 until Run serves (and the stored policies are
// restored), 200 then, 503 "draining" after Drain; Shutdown closes the
// listener.
func TestReadyz(t *testing.T) {
	f := newFiles(t)
	f.write(t, "[telemetry]\nlisten = \"127.0.0.1:0\"\n[policy]\ndir = \"policies\"\n", "")
	g, _ := newGateway(t, f, Options{})
	base := g.TelemetryURL()
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("TelemetryURL %q", base)
	}
	if code, body := get(t, base+"/livez"); code != 200 || body != "ok\n" {
		t.Fatalf("/livez before Run: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || body != "not ready: not serving yet: the listeners do not accept\n" {
		t.Fatalf("/readyz before Run: %d %q", code, body)
	}
	ran := runGateway(g)
	enginetest.Eventually(t, "/readyz 200", func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })
	g.Drain()
	if code, body := get(t, base+"/readyz"); code != 503 || body != "not ready: draining\n" {
		t.Fatalf("/readyz after Drain: %d %q", code, body)
	}
	// Draining changes nothing else: a client still logs in.
	c := enginetest.Login(t, g.Addr().String(), "127.0.0.1", "alice", "secret")
	_ = c.Quit()
	ctx, cancel := context.WithTimeout(context.Background(), enginetest.Timeout)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/livez"); err == nil {
		t.Fatal("the telemetry listener still answers after Shutdown")
	}
}

// TestTelemetryConfigErrors: [telemetry]'s problems come as FILE:LINE:
// key: msg through Parse; a token or TLS lets the listener leave
// loopback.
func TestTelemetryConfigErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.toml")
	if err := os.WriteFile(filepath.Join(dir, "short"), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const tenants = "[tenants]\ndir = \".\"\n"
	for _, tc := range []struct{ doc, want string }{
		{tenants + "[telemetry]\nlisten = \"0.0.0.0:9121\"\n", "server.toml:4: telemetry.listen: \"0.0.0.0:9121\" is not a loopback address: serving metrics beyond this host needs tls_cert and tls_key, or token_file"},
		{tenants + "[telemetry]\nlisten = \"nowhere\"\n", "server.toml:4: telemetry.listen: \"nowhere\": want HOST:PORT, like \"127.0.0.1:9121\""},
		{tenants + "[telemetry]\nmax_tenant_labels = 0\n", "server.toml:4: telemetry.max_tenant_labels: 0: want 1 to 10000"},
		{tenants + "[telemetry]\ntoken_file = \"short\"\n", "server.toml:4: telemetry.token_file: \"short\": want a token of at least 16 characters"},
		{tenants + "[telemetry]\ntls_cert = \"c.pem\"\n", "server.toml:4: telemetry.tls_cert: tls_cert and tls_key go together"},
	} {
		_, err := Parse(file, []byte(tc.doc))
		if err == nil {
			t.Errorf("%q: no error", tc.doc)
			continue
		}
		if got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	cfg, err := Parse(file, []byte(tenants+"[telemetry]\nlisten = \"0.0.0.0:9121\"\ntoken_file = \"token\"\nmax_tenant_labels = 7\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Telemetry.TokenFile != filepath.Join(dir, "token") || cfg.Telemetry.MaxTenantLabels != 7 {
		t.Fatalf("telemetry %+v", cfg.Telemetry)
	}
	if d := Default(); d.Telemetry.On() || d.Telemetry.MaxTenantLabels != 100 {
		t.Fatalf("default telemetry %+v", d.Telemetry)
	}
}

// scrapeValue returns the value of the series line `series` in a
// scrape of /metrics, or -1.
func scrapeValue(scrape, series string) float64 {
	for line := range strings.Lines(scrape) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}

// TestMetricsThroughGateway: with [telemetry], /metrics carries the
// limiter's refusals by rule, the bans and passive ports, the policy
// families (a policy's deny and its calls' latencies), the tenant's logins, and the reloads by result with the
// configuration's generation.
func TestMetricsThroughGateway(t *testing.T) {
	f := newFiles(t)
	f.write(t, "[telemetry]\nlisten = \"127.0.0.1:0\"\n[policy]\ndir = \"policies\"\n[limits]\nconn_per_ip = 1\n", "")
	g := startWith(t, f, Options{Policies: []StartPolicy{{Tenant: "acme", Wasm: testmod.Example(), OnError: policy.OnErrorDeny}}})
	base := g.TelemetryURL()

	c := enginetest.Login(t, g.Addr().String(), "127.0.0.1", "alice", "secret")
	if err := c.Stor("a.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("a.txt"); err == nil {
		t.Fatal("DELE passed the policy")
	}
	second, code, _ := enginetest.Dial(t, g.Addr().String(), "127.0.0.1")
	if code != 421 {
		t.Fatalf("a second connection over conn_per_ip: %d", code)
	}
	second.ExpectClosed()
	_ = c.Quit()

	next, err := Load(f.server)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(next); err != nil {
		t.Fatal(err)
	}
	bad := next
	bad.Tenancy = nil
	if err := g.Reload(bad); err == nil {
		t.Fatal("a reload without tenants was taken")
	}

	// QUIT's 221 comes before the session's end releases its passive
	// port and its connection: wait for both, then read the rest.
	var scrape string
	enginetest.Eventually(t, "the sessions' ends in /metrics", func() bool {
		code, body := get(t, base+"/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		scrape = body
		return scrapeValue(scrape, "ftpgate_passive_ports_held") == 0 && scrapeValue(scrape, "ftpgate_connections_open") == 0
	})
	for series, want := range map[string]float64{
		`ftpgate_ratelimit_refusals_total{rule="conn_per_ip"}`:           1,
		`ftpgate_ratelimit_refusals_total{rule="banned"}`:                0,
		`ftpgate_bans_active`:                                            0,
		`ftpgate_passive_ports_held`:                                     0,
		`ftpgate_policy_eval_duration_seconds_count`:                     2,
		`ftpgate_policy_decisions_total{decision="deny",tenant="acme"}`:  1,
		`ftpgate_policy_decisions_total{decision="error",tenant="acme"}`: 0,
		`ftpgate_policy_eval_duration_seconds_bucket{le="4.294967296"}`:  2,
		`ftpgate_logins_total{result="success",tenant="acme"}`:           1,
		`ftpgate_connections_accepted_total`:                             2,
		`ftpgate_config_reloads_total{result="success"}`:                 1,
		`ftpgate_config_reloads_total{result="failure"}`:                 1,
		`ftpgate_config_generation`:                                      2,
		`ftpgate_ready`:                                                  1,
	} {
		if got := scrapeValue(scrape, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", scrape)
	}
}

// TestReadyWhileRestoring: Ready fails while the stored policies are
// being restored (a tenant's commands get 451 until its policy is in),
// and passes once the restore is done.
func TestReadyWhileRestoring(t *testing.T) {
	restoring := make(chan struct{})
	g := &Gateway{}
	g.health.serving.Store(true)
	g.health.restoring = restoring
	if err := g.Ready(); err == nil || err.Error() != "restoring the stored policies" {
		t.Fatalf("Ready while restoring: %v", err)
	}
	close(restoring)
	if err := g.Ready(); err != nil {
		t.Fatalf("Ready after the restore: %v", err)
	}
	g.Drain()
	if err := g.Ready(); !errors.Is(err, ErrDraining) {
		t.Fatalf("Ready after Drain: %v", err)
	}
}

// TestMetricsAdminAuth: wrong admin tokens show in /metrics (failures,
// the address throttled, the refusals after it), so that an operator can
// alert on token guessing.
func TestMetricsAdminAuth(t *testing.T) {
	f := newFiles(t)
	if err := os.WriteFile(filepath.Join(f.dir, "token"), []byte(opToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.write(t, "[policy]\ndir = \"policies\"\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\n[telemetry]\nlisten = \"127.0.0.1:0\"\n", "")
	g := startWith(t, f, Options{})
	const guesses = 12 // past admin's MaxAuthFailures (10)
	for i := range guesses {
		code, _ := adminCall(t, "GET", g.AdminURL()+"/v1/sessions", fmt.Sprintf("guess-%d", i), nil)
		if code != 401 && code != 403 && code != 429 {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	code, body := get(t, g.TelemetryURL()+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for series, want := range map[string]float64{
		"ftpgate_admin_auth_failures_total":  10,
		"ftpgate_admin_auth_throttled_total": 1,
		"ftpgate_admin_auth_refusals_total":  2,
		"ftpgate_admin_auth_clients":         1,
	} {
		if got := scrapeValue(body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}
