package telemetry

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/afero"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// memDriver serves one MemMapFs to user "u" with password "p".
type memDriver struct{ fs afero.Fs }

func (d *memDriver) GetSettings() (*engine.Settings, error)               { return &engine.Settings{}, nil }
func (d *memDriver) ClientConnected(engine.ClientContext) (string, error) { return "hello", nil }
func (d *memDriver) ClientDisconnected(engine.ClientContext)              {}
func (d *memDriver) GetTLSConfig() (*tls.Config, error)                   { return nil, errors.New("no TLS") }
func (d *memDriver) AuthUser(_ engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	if user == "u" && pass == "p" {
		return d.fs, nil
	}
	return nil, errors.New("no")
}

// serveWithMetrics serves an engine with m's hooks installed, and m's
// registry on a telemetry listener.
func serveWithMetrics(t *testing.T, m *Metrics) (ftpAddr, telemetryURL string) {
	t.Helper()
	srv := &engine.Server{Driver: &memDriver{fs: afero.NewMemMapFs()}, Logger: slog.New(slog.DiscardHandler)}
	m.Install(srv)
	es := enginetest.Start(t, srv)
	ts := startServer(t, Config{}, Options{Metrics: m})
	return es.Addr, ts.URL()
}

// sample returns the value of the series line `name{labels}` in a
// scrape, or -1 when there is none.
func sample(scrape, series string) float64 {
	for line := range strings.Lines(scrape) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestMetricsFromTraffic: a plain GET of /metrics after real clients'
// traffic (a login, a failed login, an upload of known size, a refused
// command, an unknown verb) shows what they did, by tenant, verb and
// reply class.
func TestMetricsFromTraffic(t *testing.T) {
	m := NewMetrics(MetricsOptions{TenantOf: func(cc engine.ClientContext) string {
		if cc.LoggedIn() || cc.User() != "" {
			return "acme"
		}
		return ""
	}})
	addr, url := serveWithMetrics(t, m)

	c := enginetest.Login(t, addr, "127.0.0.1", "u", "p")
	payload := bytes.Repeat([]byte("x"), 12345)
	if err := c.Stor("f.bin", bytes.NewReader(payload)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("missing"); err == nil {
		t.Fatal("DELE of a missing file succeeded")
	}
	raw, _, _ := enginetest.Dial(t, addr, "127.0.0.1")
	raw.Expect("USER u", 331)
	raw.Expect("PASS wrong", 530)
	raw.Expect("FROB x", 502)
	raw.Expect("QUIT", 221)
	_ = c.Quit()

	code, scrape := get(t, url+"/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for series, want := range map[string]float64{
		`ftpgate_logins_total{result="success",tenant="acme"}`:                   1,
		`ftpgate_logins_total{result="failure",tenant="acme"}`:                   1,
		`ftpgate_transfer_bytes_total{direction="upload",tenant="acme"}`:         float64(len(payload)),
		`ftpgate_commands_total{class="2xx",tenant="acme",verb="STOR"}`:          1,
		`ftpgate_commands_total{class="5xx",tenant="acme",verb="DELE"}`:          1,
		`ftpgate_commands_total{class="5xx",tenant="none",verb="other"}`:         1, // after a failed login the session has no user
		`ftpgate_transfer_duration_seconds_count{direction="upload"}`:            1,
		`ftpgate_connections_accepted_total`:                                     2,
		`ftpgate_config_generation`:                                              1,
		`ftpgate_config_reloads_total{result="failure"}`:                         0,
		`ftpgate_commands_total{class="3xx",tenant="none",verb="USER"}`:          -1, // USER is counted once the name is known
		`ftpgate_commands_total{class="3xx",tenant="acme",verb="USER"}`:          2,
		`ftpgate_transfer_bytes_total{direction="download",tenant="acme"}`:       0,
		`ftpgate_commands_total{class="2xx",tenant="acme",verb="FROB"}`:          -1,
		`ftpgate_commands_total{class="5xx",tenant="acme",verb="FROB"}`:          -1,
		`ftpgate_transfer_duration_seconds_bucket{direction="upload",le="+Inf"}`: 1,
	} {
		if got := sample(scrape, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", scrape)
	}
}

// TestSeriesBounded: tenants past max_tenant_labels share "other", and
// verbs outside the engine's table share "other", however many a flood
// brings: the series of ftpgate_commands_total stay within the bound
// Metrics states.
func TestSeriesBounded(t *testing.T) {
	const maxTenants = 3
	m := NewMetrics(MetricsOptions{MaxTenantLabels: maxTenants, TenantOf: func(cc engine.ClientContext) string {
		return fmt.Sprintf("tenant-%d", cc.ID())
	}})
	addr, _ := serveWithMetrics(t, m)
	var wg sync.WaitGroup
	for s := range 3 * maxTenants {
		wg.Go(func() {
			c, _, _ := enginetest.Dial(t, addr, "127.0.0.1")
			for i := range 40 {
				c.Expect(fmt.Sprintf("Z%03d%d x", i, s), 502)
			}
			c.Expect("NOOP", 200)
			c.Expect("QUIT", 221)
		})
	}
	wg.Wait()

	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	verbs := append(engineVerbs(), otherLabel)
	tenants, n := map[string]bool{}, 0
	for _, f := range families {
		if f.GetName() != "ftpgate_commands_total" && f.GetName() != "ftpgate_logins_total" && f.GetName() != "ftpgate_transfer_bytes_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			n++
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "tenant":
					tenants[l.GetValue()] = true
				case "verb":
					if !slices.Contains(verbs, l.GetValue()) {
						t.Errorf("verb label %q", l.GetValue())
					}
				}
			}
		}
	}
	if len(tenants) != maxTenants+1 || !tenants[otherLabel] {
		t.Errorf("tenant labels %v, want %d and other", tenants, maxTenants)
	}
	// Per tenant label: 2 login, 2 byte series, and here 3 command series
	// (other 5xx, NOOP 2xx, QUIT 2xx).
	if n > (maxTenants+1)*7 {
		t.Errorf("%d series, want at most %d", n, (maxTenants+1)*7)
	}
}

func engineVerbs() []string { return engine.Verbs() }

// TestResultHookAllocs: counting a command of a session whose tenant
// did not change allocates nothing, and the metrics add no transfer hook
// (which would wrap the copy).
func TestResultHookAllocs(t *testing.T) {
	m := NewMetrics(MetricsOptions{TenantOf: func(engine.ClientContext) string { return "acme" }})
	got := make(chan engine.ClientContext, 1)
	srv := &engine.Server{Driver: &memDriver{fs: afero.NewMemMapFs()}, Logger: slog.New(slog.DiscardHandler)}
	m.Install(srv)
	srv.AdmissionHooks = append(srv.AdmissionHooks, func(_ context.Context, cc engine.ClientContext) (func(), error) {
		got <- cc
		return nil, nil
	})
	if len(srv.TransferHooks) != 0 {
		t.Fatal("the metrics wrap transfers: sendfile and splice would be lost")
	}
	es := enginetest.Start(t, srv)
	c, _, _ := enginetest.Dial(t, es.Addr, "127.0.0.1")
	cc := <-got
	r := &engine.Result{Session: cc, Verb: "NOOP", Code: 200}
	x := &engine.Result{Session: cc, Verb: "RETR", Code: 226, Transfer: true, Bytes: 10}
	m.result(r) // the series' first use
	m.result(x)
	if n := testing.AllocsPerRun(100, func() { m.result(r); m.result(x) }); n != 0 {
		t.Fatalf("%v allocations per command", n)
	}
	c.Expect("QUIT", 221)
}
