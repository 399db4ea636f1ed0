package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// TestIntegrationPrometheus: a real Prometheus (Debian's prometheus, on
// loopback, with a temporary storage directory) scrapes `ftpgate serve
// --telemetry-listen` every second with the bearer token of
// --telemetry-token-file, after real clients logged in, failed a login,
// uploaded a file of known size and had a command refused; its query API
// then gives exactly those figures.
func TestIntegrationPrometheus(t *testing.T) {
	if os.Getenv("FTPGATE_INTEGRATION") != "1" {
		t.Skip("FTPGATE_INTEGRATION=1 runs the Prometheus test")
	}
	prom := requireTool(t, "prometheus")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("prometheus-scrape-token-0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startTelemetryServer(t, "--telemetry-listen", "127.0.0.1:0", "--telemetry-token-file", tokenFile, "--limit-login-delay", "0s")

	// The traffic: a login that uploads a file of known size and has a
	// DELE refused (550), and a failed login.
	const size = 123457
	c := enginetest.Login(t, s.addr, "127.0.0.1", itUser, itPassword)
	if err := c.Stor("known.bin", bytes.NewReader(bytes.Repeat([]byte{7}, size))); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("missing.bin"); err == nil {
		t.Fatal("DELE of a missing file succeeded")
	}
	_ = c.Quit()
	raw, _, _ := enginetest.Dial(t, s.addr, "127.0.0.1")
	raw.Expect("USER "+itUser, 331)
	raw.Expect("PASS wrong", 530)
	raw.Expect("QUIT", 221)

	api := startPrometheus(t, prom, dir, strings.TrimPrefix(s.telemetry, "http://"), tokenFile)
	for query, want := range map[string]float64{
		`up{job="ftpgate"}`: 1,
		`sum(ftpgate_transfer_bytes_total{direction="upload"})`:       size,
		`sum(ftpgate_logins_total{result="success"})`:                 1,
		`sum(ftpgate_logins_total{result="failure"})`:                 1,
		`sum(ftpgate_commands_total{verb="DELE",class="5xx"})`:        1,
		`sum(ftpgate_commands_total{verb="STOR",class="2xx"})`:        1,
		`ftpgate_transfer_duration_seconds_count{direction="upload"}`: 1,
		`count(ftpgate_build_info)`:                                   1,
		`ftpgate_config_generation`:                                   1,
	} {
		waitForQuery(t, api, query, want)
	}

	// Every query of the shipped Grafana dashboard is PromQL that this
	// Prometheus runs, with Grafana's variables filled in.
	b, err := os.ReadFile("../../examples/grafana/ftpgate-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$job", "ftpgate", "$instance", ".*", "$__rate_interval", "1m", "$__range", "1h")
	client := &http.Client{Timeout: 10 * time.Second}
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			resp, err := client.Get(api + "/api/v1/query?query=" + url.QueryEscape(vars.Replace(q.Expr)))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"success"`) {
				t.Errorf("panel %q: %s: %d %s", p.Title, q.Expr, resp.StatusCode, body)
			}
		}
	}
}

// telemetryServer is a running `ftpgate serve` with a telemetry listener.
type telemetryServer struct {
	*serveProc
	addr, telemetry string
}

var announceLine = regexp.MustCompile(`^ftpgate: (listening on|telemetry on) (\S+)`)

// startTelemetryServer runs the binary in flag mode on 127.0.0.1 with
// args, waits for its control and telemetry addresses, and stops it with
// SIGTERM when the test ends, expecting a clean exit.
func startTelemetryServer(t *testing.T, args ...string) *telemetryServer {
	t.Helper()
	s := &telemetryServer{}
	cmd := exec.Command(ftpgateBinary(t), append([]string{"serve", "--listen", "127.0.0.1:0", "--root", t.TempDir(),
		"--user", itUser + ":" + itPassword, "--policy-dir", filepath.Join(t.TempDir(), "policies")}, args...)...)
	s.serveProc = startServeProc(t, cmd, true, func(line string) bool {
		m := announceLine.FindStringSubmatch(line)
		switch {
		case m == nil:
			return false
		case m[1] == "listening on":
			s.addr = m[2]
			return false
		default:
			s.telemetry = m[2]
			return true // printed last
		}
	})
	return s
}

// startPrometheus runs prometheus on a free loopback port with its
// storage in dir, scraping target every second with the bearer token in
// tokenFile, and returns its base URL once /-/ready answers 200. It is
// killed when the test ends.
func startPrometheus(t *testing.T, bin, dir, target, tokenFile string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := filepath.Join(dir, "prometheus.yml")
	doc := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ftpgate
    authorization:
      type: Bearer
      credentials_file: %q
    static_configs:
      - targets: [%q]
`, tokenFile, target)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(itTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs)
		}
	})
	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(itTimeout)
	for {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited: %v\n%s", err, logs)
		default:
		}
		if resp, err := client.Get(base + "/-/ready"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after %v\n%s", itTimeout, logs)
		}
		<-time.After(50 * time.Millisecond)
	}
}

// waitForQuery polls Prometheus's /api/v1/query until query gives one
// sample equal to want, for at most itTimeout; it fails with the last
// answer otherwise.
func waitForQuery(t *testing.T, api, query string, want float64) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(itTimeout)
	last := ""
	for time.Now().Before(deadline) {
		if got, ok, body := queryOnce(client, api, query); ok && got == want {
			return
		} else {
			last = body
		}
		<-time.After(100 * time.Millisecond)
	}
	t.Errorf("%s: want %v; Prometheus's last answer: %s", query, want, last)
}

// queryOnce runs an instant query and returns its one sample's value.
func queryOnce(client *http.Client, api, query string) (float64, bool, string) {
	resp, err := client.Get(api + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, false, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, false, err.Error()
	}
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" || len(r.Data.Result) != 1 {
		return 0, false, string(body)
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil, string(body)
}
