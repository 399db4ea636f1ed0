package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
)

// shippedUnit is the service unit README.md's install section points at.
var shippedUnit = filepath.Join("..", "..", "examples", "systemd", "ftpgate.service")

// unitBinary is the ExecStart path the shipped unit names.
const unitBinary = "/usr/local/bin/ftpgate"

// requiredUnitLines are the unit's hardening that issue 13 asks for by
// name, and the reload and stop behaviour the server implements.
var requiredUnitLines = []string{
	"NoNewPrivileges=yes",
	"ProtectSystem=strict",
	"ReadWritePaths=/var/lib/ftpgate /var/log/ftpgate",
	"CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
	"AmbientCapabilities=CAP_NET_BIND_SERVICE",
	"SystemCallFilter=@system-service",
	"PrivateTmp=yes",
	"ProtectHome=yes",
	"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
	"ExecReload=/bin/kill -HUP $MAINPID",
	"KillSignal=SIGTERM",
}

// verifyUnit runs systemd-analyze verify and security (offline) on unit
// text, with the binary path replaced by bin (verify refuses an ExecStart
// that is not executable), and returns what is wrong: a non-zero exit, or
// any line verify printed (it only warns, with status 0, about unknown
// keys and bad values, which systemd then ignores), or an exposure level
// above 2.0 (the shipped unit's is 1.7 with systemd 252), or a required
// directive missing.
func verifyUnit(t *testing.T, tool, bin, unit string) error {
	t.Helper()
	for _, line := range requiredUnitLines {
		if !strings.Contains(unit, "\n"+line+"\n") {
			return fmt.Errorf("the unit lacks %q", line)
		}
	}
	if strings.Count(unit, "ExecStart="+unitBinary+" ") != 1 {
		return fmt.Errorf("want exactly one ExecStart=%s: update this test with the unit", unitBinary)
	}
	unit = strings.Replace(unit, "ExecStart="+unitBinary+" ", "ExecStart="+bin+" ", 1)
	path := filepath.Join(t.TempDir(), "ftpgate.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	// --recursive-errors=no: the host's own units (network-online.target)
	// are not this test's business.
	out, err := exec.Command(tool, "verify", "--recursive-errors=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		return fmt.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(tool, "security", "--offline=yes", "--threshold=20", path).CombinedOutput()
	if err != nil {
		// The last line names the level; the table above it, the reasons.
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return fmt.Errorf("systemd-analyze security: exposure above 2.0 (%v): %s", err, lines[len(lines)-1])
	}
	return nil
}

// TestIntegrationSystemdUnit checks examples/systemd/ftpgate.service with
// systemd-analyze: it parses without a warning and keeps its hardening.
// The checker itself is checked on broken copies, so that a verify that
// passes everything cannot pass the shipped unit.
func TestIntegrationSystemdUnit(t *testing.T) {
	tool := requireTool(t, "systemd-analyze")
	bin := ftpgateBinary(t)
	b, err := os.ReadFile(shippedUnit)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	// systemd's SIGKILL must not come while the server still drains and
	// lets transfers finish with the default timeouts.
	d := gateway.Default().Timeouts
	if stop := unitDuration(t, unit, "TimeoutStopSec"); stop <= time.Duration(d.DrainGrace+d.Shutdown) {
		t.Fatalf("TimeoutStopSec=%v is not above timeouts.drain_grace + timeouts.shutdown (%v + %v)", stop, d.DrainGrace, d.Shutdown)
	}
	if err := verifyUnit(t, tool, bin, unit); err != nil {
		t.Fatalf("%s: %v", shippedUnit, err)
	}
	for name, broken := range map[string]string{
		"unknown key":      strings.Replace(unit, "[Service]\n", "[Service]\nProtectEverything=yes\n", 1),
		"bad value":        strings.Replace(unit, "LockPersonality=yes", "LockPersonality=maybe", 1),
		"hardening gone":   strings.NewReplacer("RestrictNamespaces=yes", "RestrictNamespaces=no", "ProtectKernelTunables=yes", "ProtectKernelTunables=no", "ProtectProc=invisible", "ProtectProc=default").Replace(unit),
		"missing binary":   strings.Replace(unit, "[Service]\n", "[Service]\nExecStartPre=/nonexistent/ftpgate check-config /etc/ftpgate/ftpgate.toml\n", 1),
		"unknown section":  unit + "\n[Servce]\nUser=root\n",
		"no tmp":           strings.Replace(unit, "PrivateTmp=yes", "PrivateTmp=no", 1),
		"capability added": strings.Replace(unit, "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_SYS_ADMIN CAP_DAC_OVERRIDE CAP_SYS_PTRACE\n", 1),
	} {
		if broken == unit {
			t.Fatalf("%s: the unit no longer has the text this case changes", name)
		}
		if err := verifyUnit(t, tool, bin, broken); err == nil {
			t.Errorf("%s: a broken unit passed", name)
		} else {
			t.Logf("%s, as expected: %v", name, err)
		}
	}
}

// unitDuration returns a unit's KEY=DURATION setting (Go's duration
// syntax, which the unit keeps to).
func unitDuration(t *testing.T, unit, key string) time.Duration {
	t.Helper()
	for line := range strings.SplitSeq(unit, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("%s=%s: %v", key, v, err)
			}
			return d
		}
	}
	t.Fatalf("the unit has no %s", key)
	return 0
}
