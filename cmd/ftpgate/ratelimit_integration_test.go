package main

import (
	"path/filepath"
	"testing"
	"time"
)

// TestIntegrationBandwidthLimit: with --limit-bandwidth-down and -up, curl
// (which limits nothing itself here) needs the time the server's limit
// allows for a download and an upload, and the bytes arrive whole.
func TestIntegrationBandwidthLimit(t *testing.T) {
	curl := requireTool(t, "curl")
	const rate = 1 << 20 // bytes/s
	const size = 5<<19 + 77
	srv := startServer(t, "127.0.0.1", "--limit-bandwidth-down", "1M", "--limit-bandwidth-up", "1M")
	local := t.TempDir()
	src := filepath.Join(local, "src.bin")
	sum := writeFile(t, src, size, "limit")
	auth := itUser + ":" + itPassword
	// The limiter lets one chunk (1/16 of the rate) through at once and
	// skips waiting after the last one.
	least := time.Duration(size-2*rate/16) * time.Second / rate

	start := time.Now()
	runClient(t, curl, "-sS", "-u", auth, "-T", src, srv.url("ftp", "up.bin"))
	up := time.Since(start)
	sameFile(t, filepath.Join(srv.root, "up.bin"), sum)

	out := filepath.Join(local, "down.bin")
	start = time.Now()
	runClient(t, curl, "-sS", "-u", auth, "-o", out, srv.url("ftp", "up.bin"))
	down := time.Since(start)
	sameFile(t, out, sum)

	t.Logf("%d bytes at %d B/s: upload %v, download %v (least %v)", size, rate, up, down, least)
	for what, d := range map[string]time.Duration{"upload": up, "download": down} {
		if d < least*9/10 {
			t.Errorf("%s took %v, faster than the server's limit allows (%v)", what, d, least)
		}
		if d > 4*least+10*time.Second {
			t.Errorf("%s took %v, far slower than the limit (%v)", what, d, least)
		}
	}
}
