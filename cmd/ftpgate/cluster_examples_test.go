package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
)

// clusterExampleDir is examples/cluster/, which the cluster tests read.
var clusterExampleDir = filepath.Join("..", "..", "examples", "cluster")

// clusterExampleEnv sets what the example server files read from the
// environment, with throwaway values.
func clusterExampleEnv(t *testing.T) {
	t.Helper()
	t.Setenv("FTPGATE_ADMIN_TOKEN", "cluster-example-operator-token")
	t.Setenv("FTPGATE_REDIS_PASSWORD", "cluster-example-redis-password")
	t.Setenv("FTPGATE_S3_ACCESS_KEY", "cluster-example-access")
	t.Setenv("FTPGATE_S3_SECRET_KEY", "cluster-example-secret")
}

// clusterSectionKnown reports whether the gateway reads [cluster]; until
// the cluster package is merged, the cases that need it skip.
func clusterSectionKnown() bool {
	return slices.ContainsFunc(gateway.Keys(), func(k string) bool { return strings.HasPrefix(k, "cluster.") })
}

var haServerLine = regexp.MustCompile(`(?m)^\s*server (ftpgate-[a-z]) ([0-9.]+):2121 send-proxy-v2 check port 9100$`)
var haPassiveBind = regexp.MustCompile(`(?m)^\s*bind 127\.0\.0\.1:(\d+)-(\d+)\n\s*default_backend ftpgate_passive_([a-z])$`)

// TestClusterExamples loads examples/cluster's three server files with
// the gateway's Load (their tenant files included) and checks that they
// fit examples/cluster/haproxy.cfg, which haproxy -c accepts: one control
// server line per instance at its listen address, and each instance's
// passive range forwarded to it alone.
func TestClusterExamples(t *testing.T) {
	clusterExampleEnv(t)
	cfgText, err := os.ReadFile(filepath.Join(clusterExampleDir, "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]string{} // instance letter -> control address in haproxy.cfg
	for _, m := range haServerLine.FindAllStringSubmatch(string(cfgText), -1) {
		servers[strings.TrimPrefix(m[1], "ftpgate-")] = m[2] + ":2121"
	}
	passive := map[string]string{} // instance letter -> range bound by HAProxy
	for _, m := range haPassiveBind.FindAllStringSubmatch(string(cfgText), -1) {
		passive[m[3]] = m[1] + "-" + m[2]
	}
	if len(servers) != 3 || len(passive) != 3 {
		t.Fatalf("haproxy.cfg: control servers %v, passive ranges %v; want three of each", servers, passive)
	}
	if !clusterSectionKnown() {
		t.Skip("needs [cluster] from h-clcore")
	}
	tenantDirs := map[string]bool{}
	for _, inst := range []string{"a", "b", "c"} {
		cfg, err := gateway.Load(filepath.Join(clusterExampleDir, "server-"+inst+".toml"))
		if err != nil {
			t.Fatalf("server-%s.toml: %v", inst, err)
		}
		if cfg.Listen.Control != servers[inst] {
			t.Errorf("server-%s.toml: listen.control %s, haproxy.cfg sends to %s", inst, cfg.Listen.Control, servers[inst])
		}
		host := strings.TrimSuffix(servers[inst], ":2121")
		if cfg.Telemetry.Listen != host+":9100" {
			t.Errorf("server-%s.toml: telemetry.listen %s, haproxy.cfg checks %s:9100", inst, cfg.Telemetry.Listen, host)
		}
		if cfg.Passive.Ports == nil || passive[inst] != fmt.Sprintf("%d-%d", cfg.Passive.Ports.Start, cfg.Passive.Ports.End) {
			t.Errorf("server-%s.toml: passive.ports %v, haproxy.cfg forwards %s", inst, cfg.Passive.Ports, passive[inst])
		}
		if cfg.ProxyProtocol.Mode.String() != "required" {
			t.Errorf("server-%s.toml: proxy_protocol.mode %q", inst, cfg.ProxyProtocol.Mode)
		}
		tenantDirs[cfg.Tenants.Dir] = true
		if n := len(cfg.Tenancy.Tenants); n != 1 || cfg.Tenancy.Tenants[0].Storage.Backend != "s3" {
			t.Errorf("server-%s.toml: want the one s3 tenant, got %d tenants", inst, n)
		}
	}
	if len(tenantDirs) != 1 {
		t.Errorf("the instances read different tenant directories: %v", tenantDirs)
	}
}

// TestClusterExampleHAProxyCheck runs haproxy -c on examples/cluster/haproxy.cfg.
func TestClusterExampleHAProxyCheck(t *testing.T) {
	haproxy := requireHAProxy(t)
	if out, err := exec.Command(haproxy, "-c", "-f", filepath.Join(clusterExampleDir, "haproxy.cfg")).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}

// TestClusterExampleRedisConf starts Debian's redis-server on
// examples/cluster/redis.conf (its port and directory moved into the
// test's) and asks it for the settings README.md promises: persistence
// on, loopback only, a password.
func TestClusterExampleRedisConf(t *testing.T) {
	bin := requireTool(t, "redis-server")
	cli := requireTool(t, "redis-cli")
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	conf, err := filepath.Abs(filepath.Join(clusterExampleDir, "redis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--port", "0", "--unixsocket", sock, "--dir", dir)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	waitForLog(t, "redis-server", logs, "ready to accept connections")
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	pass := regexp.MustCompile(`(?m)^requirepass (\S+)$`).FindStringSubmatch(string(text))
	if pass == nil {
		t.Fatal("redis.conf sets no requirepass")
	}
	if out, _ := exec.Command(cli, "-s", sock, "PING").CombinedOutput(); !strings.Contains(string(out), "NOAUTH") {
		t.Fatalf("PING without the password: %s", out)
	}
	for key, want := range map[string]string{"appendonly": "yes", "bind": "127.0.0.1 -::1", "protected-mode": "yes", "maxmemory-policy": "noeviction"} {
		out, err := exec.Command(cli, "-s", sock, "--no-auth-warning", "-a", pass[1], "CONFIG", "GET", key).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "\n"+want+"\n") {
			t.Errorf("CONFIG GET %s: want %q: %v\n%s", key, want, err, out)
		}
	}
}
