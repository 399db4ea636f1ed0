package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTelemetryFlags: the --telemetry-* flags fill [telemetry], are
// checked as the file's keys are (errors name the flag), and win over
// the server file with --config.
func TestTelemetryFlags(t *testing.T) {
	if _, err := flagConfig([]string{"--telemetry-listen", "0.0.0.0:9121"}); err == nil ||
		!strings.Contains(err.Error(), `--telemetry-listen: "0.0.0.0:9121" is not a loopback address`) {
		t.Fatalf("a non-loopback listener in clear: %v", err)
	}
	cfg, err := flagConfig([]string{"--telemetry-listen", "127.0.0.1:9121", "--telemetry-max-tenant-labels", "5"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Telemetry.Listen != "127.0.0.1:9121" || cfg.Telemetry.MaxTenantLabels != 5 {
		t.Fatalf("telemetry %+v", cfg.Telemetry)
	}

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tenants"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "server.toml")
	if err := os.WriteFile(file, []byte("[tenants]\ndir = \"tenants\"\n[telemetry]\nlisten = \"127.0.0.1:1\"\nmax_tenant_labels = 9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	flags, err := parseServeFlags([]string{"--config", file, "--telemetry-listen", "127.0.0.1:2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got, err := flags.loadConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got.Telemetry.Listen != "127.0.0.1:2" || got.Telemetry.MaxTenantLabels != 9 {
		t.Fatalf("--config with --telemetry-listen: %+v", got.Telemetry)
	}
}
