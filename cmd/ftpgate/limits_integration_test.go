package main

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// TestIntegrationConfigLimitsReload: a user's download rate set in a
// tenant file and loaded by SIGHUP slows that user's next download
// through curl, while a session that was open across the reload goes on.
func TestIntegrationConfigLimitsReload(t *testing.T) {
	curl := requireTool(t, "curl")
	s := startTenantServer(t)
	const size = 512 << 10
	want := writeFile(t, filepath.Join(s.dir, "data/globex/big.bin"), size, "limits")

	live, err := ftp.Dial(s.addr, ftp.DialWithTimeout(itTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Quit()
	if err := live.Login("alice@acme", "acme-pw"); err != nil {
		t.Fatal(err)
	}

	// 256 KiB/s for globex's alice: 512 KiB take about two seconds.
	writeTenantConfig(t, s.dir, "[users.limits]\ndownload_rate = 262144\n")
	_ = s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(t, "configuration reloaded", 1)

	dst := filepath.Join(t.TempDir(), "big.bin")
	start := time.Now()
	runClient(t, curl, "-sS", "--max-time", "60", "-u", "alice@globex:globex-pw", "-o", dst, "ftp://"+s.addr+"/big.bin")
	elapsed := time.Since(start)
	sameFile(t, dst, want)
	if elapsed < 1500*time.Millisecond {
		t.Errorf("512 KiB at 256 KiB/s took %v, want about 2 s: the limit from the tenant file did not apply", elapsed)
	}

	// The session opened before the reload was not dropped.
	if err := live.NoOp(); err != nil {
		t.Fatalf("the session open across the reload: %v", err)
	}
}
