package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// bigListObjects is how many objects TestIntegrationS3BigListing lists:
// 100,000 (about 100 s on two cores shared with weed mini), or 40,000
// under -race, where the race-instrumented minio-go puts and gateway run
// two to three times slower (100,000 took 3.6 minutes), so that the test
// stays under about two minutes either way. 40 pages of 1000 keys still
// exercise the paging as 100 do.
func bigListObjects() int {
	if raceEnabled {
		return 40000
	}
	return 100000
}

// bigListRSSGrowth bounds how much the gateway's peak resident memory may
// grow while it serves the three listings of bigListObjects names. The
// real bound is structural: s3fs holds one ListObjectsV2 page (1000 keys)
// and the engine one batch (1024 entries) whatever the directory's size.
// This is a coarse guard against holding the whole directory: measured
// growth is about 20 MiB (55 MiB under -race) (the garbage of decoding 100 XML pages of 1000
// keys, under GOGC=100), while minio-go's ObjectInfo for 100,000 keys
// (several hundred bytes each) plus the rendered 6 MB reply would not fit.
//
// Under -race the race detector's shadow memory roughly doubles it.
func bigListRSSGrowth() int64 {
	if raceEnabled {
		return 96 << 20
	}
	return 48 << 20
}

// TestIntegrationS3BigListing puts bigListObjects objects in one
// directory of the tenant's prefix directly with minio-go (in parallel,
// empty bodies; about a minute on two cores with weed mini, so the
// whole test stays under two minutes), then lists it through ftpgate with curl: LIST, NLST and
// MLSD each deliver every name exactly once, while the gateway's peak
// resident memory grows by less than bigListRSSGrowth. A directory that
// exists only because an object sits under it shows the Unix epoch as its
// time, in LIST and MLSD, rather than year 1.
func TestIntegrationS3BigListing(t *testing.T) {
	curl := requireTool(t, "curl")
	st := startWeed(t)
	ctx := context.Background()
	const prefix = "tenants/big/"
	n := bigListObjects()
	start := time.Now()
	put := func(key string) error {
		var err error
		for range 3 { // weed mini answers a burst with an occasional 503
			c, cancel := context.WithTimeout(ctx, itTimeout)
			_, err = st.Client.PutObject(c, weedBucket, key, bytes.NewReader(nil), 0, minio.PutObjectOptions{})
			cancel()
			if err == nil {
				return nil
			}
		}
		return err
	}
	keys := make(chan string)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				if err := put(k); err != nil {
					select {
					case errs <- fmt.Errorf("put %s: %w", k, err):
					default:
					}
				}
			}
		}()
	}
	for _, k := range []string{"big/implicit/child.txt", "big/marked/"} {
		keys <- prefix + k
	}
	for i := range n {
		keys <- fmt.Sprintf("%sbig/f%06d", prefix, i)
	}
	close(keys)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	t.Logf("%d objects stored in %v", n+2, time.Since(start))

	g := startS3Gateway(t, st, strings.TrimSuffix(prefix, "/"))
	url := "ftp://" + g.addr + "/big/"
	// A first session and listing (of the root) set up what every
	// session needs (the tenant's store client, TLS-free login, buffers),
	// so that what grows afterwards is the big listing's own.
	runClient(t, curl, "-sS", "--max-time", "60", "-u", "alice:alice-pw", "ftp://"+g.addr+"/")
	base := peakRSS(t, g.cmd.Process.Pid)
	check := func(what string, out string, name func(line string) string) {
		t.Helper()
		seen := make(map[string]int, n+2)
		for line := range strings.SplitSeq(strings.TrimRight(out, "\r\n"), "\n") {
			seen[name(strings.TrimRight(line, "\r"))]++
		}
		for i := range n {
			n := fmt.Sprintf("f%06d", i)
			if seen[n] != 1 {
				t.Fatalf("%s: %s arrived %d times", what, n, seen[n])
			}
			delete(seen, n)
		}
		if seen["implicit"] != 1 || seen["marked"] != 1 || len(seen) != 2 {
			t.Fatalf("%s: unexpected entries besides the files: %v", what, seen)
		}
	}
	lastField := func(line string) string { return line[strings.LastIndexByte(line, ' ')+1:] }
	start = time.Now()
	list := runClient(t, curl, "-sS", "--max-time", "300", "-u", "alice:alice-pw", url)
	check("LIST", list, lastField)
	check("NLST", runClient(t, curl, "-sS", "--max-time", "300", "-u", "alice:alice-pw", "--list-only", url), func(l string) string { return l })
	mlsd := runClient(t, curl, "-sS", "--max-time", "300", "-u", "alice:alice-pw", "-X", "MLSD", url)
	check("MLSD", mlsd, lastField)
	t.Logf("LIST, NLST, MLSD of %d entries in %v", n+2, time.Since(start))
	if grown := peakRSS(t, g.cmd.Process.Pid) - base; grown > bigListRSSGrowth() {
		t.Fatalf("the gateway's peak RSS grew by %d bytes while listing (bound %d)", grown, bigListRSSGrowth())
	}
	for line := range strings.SplitSeq(mlsd, "\n") {
		if strings.HasSuffix(strings.TrimRight(line, "\r"), " implicit") && !strings.Contains(line, "modify=19700101000000") {
			t.Fatalf("MLSD of a directory without a marker: %q", line)
		}
	}
	for line := range strings.SplitSeq(list, "\n") {
		if strings.HasSuffix(strings.TrimRight(line, "\r"), " implicit") && !strings.Contains(line, "1970") {
			t.Fatalf("LIST of a directory without a marker: %q", line)
		}
	}
}

// peakRSS returns a process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
