package tenancy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/jlaffaye/ftp"

	"github.com/ftpgate/ftpgate/engine"
)

// Issue 17: an upload under a byte quota keeps splice (quotaUpload's
// ReadFrom, engine.FileTransferSplice) and stays exact.

// transferLog records the transfers' Results (engine.ResultHook), which
// the engine gives after the final reply: a test polls for them.
type transferLog struct {
	mu   sync.Mutex
	seen []engine.Result
}

func (l *transferLog) hook(r *engine.Result) {
	if !r.Transfer {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, *r)
}

// wait returns the Result of the n-th transfer (from 1), once given.
func (l *transferLog) wait(t *testing.T, n int) engine.Result {
	t.Helper()
	var r engine.Result
	waitFor(t, fmt.Sprintf("the Result of transfer %d", n), func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.seen) < n {
			return false
		}
		r = l.seen[n-1]
		return true
	})
	return r
}

// newLoggedFixture is newFixture whose server records its transfers'
// Results in the returned log.
func newLoggedFixture(t *testing.T, files map[string]string) (*fixture, *transferLog) {
	t.Helper()
	log := &transferLog{}
	return newFixtureHooks(t, files, nil, []engine.ResultHook{log.hook}), log
}

// quotaSpliceFixture serves acme with a byte quota of quota bytes.
func quotaSpliceFixture(t *testing.T, quota int64) (*fixture, *transferLog) {
	return newLoggedFixture(t, map[string]string{
		"server.toml":       serverTOML("default = \"acme\"\n"),
		"tenants/acme.toml": acmeTOML(t, fmt.Sprintf("[quota]\nbytes = %d\n", quota)),
	})
}

// expectTransfer checks the n-th transfer's Result: its verb, code and
// whether the engine moved its bytes by splice.
func expectTransfer(t *testing.T, log *transferLog, n int, verb string, code int, zeroCopy bool) {
	t.Helper()
	r := log.wait(t, n)
	if r.Verb != verb || r.Code != code || r.ZeroCopy != zeroCopy {
		t.Fatalf("transfer %d: %s %d, zero copy %v; want %s %d, zero copy %v", n, r.Verb, r.Code, r.ZeroCopy, verb, code, zeroCopy)
	}
}

// expectUsage checks acme's counted bytes (the usage AVBL and the quota
// go by) against want and the bytes on disk.
func expectUsage(t *testing.T, f *fixture, what string, want int64) {
	t.Helper()
	used, _ := f.usageOf()
	if disk := diskBytes(t, f); used != want || disk != want {
		t.Fatalf("%s: usage %d, bytes on disk %d; want %d", what, used, disk, want)
	}
}

// TestQuotaUploadKeepsSplice: with a byte quota, a STOR's bytes move by
// splice (Result.ZeroCopy) and land exactly; an upload one byte past the
// quota gets 552 and leaves nothing; REST+STOR splices in place, and one
// byte past the quota gets 552 with no byte past the quota kept; APPE
// (O_APPEND, which splice refuses) still works through Write and is
// counted; the usage (and the bytes on disk) follow each step.
func TestQuotaUploadKeepsSplice(t *testing.T) {
	t.Parallel()
	const quota = 4_000_000
	f, log := quotaSpliceFixture(t, quota)
	c := f.mustLogin("alice", "acme-alice")
	home := filepath.Join(f.dir, "data", "acme", "alice")

	// 3 MB: several chunks and splice steps.
	big := pattern(3_000_000, 1)
	if err := c.Stor("big.bin", bytes.NewReader(big)); err != nil {
		t.Fatalf("STOR of 3 MB under a 4 MB quota: %v", err)
	}
	expectTransfer(t, log, 1, "STOR", 226, true)
	assertFile(t, "big.bin", filepath.Join(home, "big.bin"), big)
	expectUsage(t, f, "after STOR big.bin", 3_000_000)

	// One byte past the quota: 552, no file, nothing counted.
	over := pattern(quota-3_000_000+1, 2)
	if code := replyCode(c.Stor("over.bin", bytes.NewReader(over))); code != 552 {
		t.Fatalf("STOR one byte past the quota: %d, want 552", code)
	}
	expectTransfer(t, log, 2, "STOR", 552, true)
	if _, err := os.Stat(filepath.Join(home, "over.bin")); !os.IsNotExist(err) {
		t.Fatalf("the refused upload left its file: %v", err)
	}
	if tmp := tempFiles(t, home); len(tmp) != 0 {
		t.Fatalf("the refused upload left %v", tmp)
	}
	expectUsage(t, f, "after the refused STOR", 3_000_000)

	// REST+STOR in place, one byte past the quota: 552, and the file
	// holds what arrived up to the quota, not a byte more (an upload in
	// place keeps what arrived, for the next resumption; the write that
	// would pass the quota is refused whole).
	tail := pattern(quota-2_000_000+1, 3)
	if code := replyCode(c.StorFrom("big.bin", bytes.NewReader(tail), 2_000_000)); code != 552 {
		t.Fatalf("REST+STOR one byte past the quota: %d, want 552", code)
	}
	expectTransfer(t, log, 3, "STOR", 552, true)
	got, err := os.ReadFile(filepath.Join(home, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, big[:2_000_000]...), tail...)
	if len(got) > quota || len(got) < 2_000_000+spliceStep || !bytes.Equal(got, want[:len(got)]) {
		t.Fatalf("big.bin after REST+STOR past the quota: %d bytes (a prefix: %v); want at most the quota, %d, and at least the spliced step",
			len(got), bytes.Equal(got, want[:min(len(got), len(want))]), quota)
	}
	expectUsage(t, f, "after REST+STOR past the quota", int64(len(got)))

	// APPE one byte past the quota (through Write: O_APPEND): 552, and
	// the file holds at most the quota.
	more := pattern(quota-len(got)+1, 4)
	if code := replyCode(c.Append("big.bin", bytes.NewReader(more))); code != 552 {
		t.Fatalf("APPE one byte past the quota: %d, want 552", code)
	}
	expectTransfer(t, log, 4, "APPE", 552, false)
	after, err := os.ReadFile(filepath.Join(home, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	want = append(got, more...)
	if len(after) > quota || len(after) < len(got) || !bytes.Equal(after, want[:len(after)]) {
		t.Fatalf("big.bin after APPE past the quota: %d bytes, want %d to %d of what was sent", len(after), len(got), quota)
	}
	expectUsage(t, f, "after APPE past the quota", int64(len(after)))

	if err := c.Delete("big.bin"); err != nil {
		t.Fatal(err)
	}
	expectUsage(t, f, "after DELE", 0)

	// APPE to a new file and to its end, then REST+STOR at its end
	// (splice), then REST+STOR that fills the quota exactly (its last
	// steps, at the quota's edge, through Write).
	first := pattern(1000, 5)
	if err := c.Append("log.bin", bytes.NewReader(first)); err != nil {
		t.Fatalf("APPE of a new file: %v", err)
	}
	expectTransfer(t, log, 5, "APPE", 226, false)
	second := pattern(500_000, 6)
	if err := c.Append("log.bin", bytes.NewReader(second)); err != nil {
		t.Fatalf("APPE: %v", err)
	}
	expectTransfer(t, log, 6, "APPE", 226, false)
	expectUsage(t, f, "after two APPE", 501_000)
	third := pattern(1_500_000, 7)
	if err := c.StorFrom("log.bin", bytes.NewReader(third), 501_000); err != nil {
		t.Fatalf("REST+STOR at the end: %v", err)
	}
	expectTransfer(t, log, 7, "STOR", 226, true)
	expectUsage(t, f, "after REST+STOR", 2_001_000)
	last := pattern(quota-2_001_000, 8)
	if err := c.StorFrom("log.bin", bytes.NewReader(last), 2_001_000); err != nil {
		t.Fatalf("REST+STOR to exactly the quota: %v", err)
	}
	expectTransfer(t, log, 8, "STOR", 226, true)
	whole := bytes.Join([][]byte{first, second, third, last}, nil)
	assertFile(t, "log.bin", filepath.Join(home, "log.bin"), whole)
	expectUsage(t, f, "at the quota", quota)
}

// TestSharedQuotaUploadKeepsSplice: with the usage shared in Redis, a
// spliced upload takes its bytes a step at a time and gives back, at its
// end, what it reserved and did not write: the shared usage equals the
// bytes on disk after each upload, a small one included (one step of
// 1 MiB reserved for 100 000 bytes); one byte past the quota gets 552.
func TestSharedQuotaUploadKeepsSplice(t *testing.T) {
	t.Parallel()
	const quota, step = 3_000_000, 1 << 20
	a, log := quotaSpliceFixture(t, quota)
	_, qs := shareWithTwin(t, a, miniredis.RunT(t).Addr(), "ftpgate:", step, false)
	c := a.mustLogin("alice", "acme-alice")
	shared := func(what string, want int64) {
		t.Helper()
		used, err := qs.Used(context.Background(), "acme")
		if disk := diskBytes(t, a); err != nil || used != want || disk != want {
			t.Fatalf("%s: shared usage %d (%v), bytes on disk %d; want %d", what, used, err, disk, want)
		}
	}
	n := 0
	stor := func(name string, size int, wantCode int) {
		t.Helper()
		n++
		err := c.Stor(name, bytes.NewReader(pattern(size, byte(n))))
		if code := replyCode(err); code != wantCode || (wantCode == 0 && err != nil) {
			t.Fatalf("STOR %s of %d bytes: %v, want code %d", name, size, err, wantCode)
		}
		code := 226
		if wantCode != 0 {
			code = wantCode
		}
		expectTransfer(t, log, n, "STOR", code, true)
	}
	stor("small.bin", 100_000, 0)
	shared("after 100 000 bytes", 100_000)
	stor("big.bin", 2_500_000, 0)
	shared("after 2.5 MB more", 2_600_000)
	stor("over.bin", quota-2_600_000+1, 552)
	shared("after the refused upload", 2_600_000)
	stor("fill.bin", quota-2_600_000, 0)
	shared("at the quota", quota)
}

// TestQuotaUploadThroughWriteStaysExact: the splice path is the plain
// socket's only; where the engine copies through its buffer (TYPE A here;
// TLS, MODE Z) a quota'd upload goes through Write, as exactly.
func TestQuotaUploadThroughWriteStaysExact(t *testing.T) {
	t.Parallel()
	const quota = 200_000
	f, log := quotaSpliceFixture(t, quota)
	c := f.mustLogin("alice", "acme-alice")
	// TYPE A: the engine converts line ends, so it copies through its
	// buffer and the handle's Write.
	if err := c.Type(ftp.TransferTypeASCII); err != nil {
		t.Fatal(err)
	}
	if code := replyCode(c.Stor("a.txt", bytes.NewReader(bytes.Repeat([]byte("x"), quota+1)))); code != 552 {
		t.Fatalf("TYPE A upload one byte past the quota: %d, want 552", code)
	}
	expectTransfer(t, log, 1, "STOR", 552, false)
	body := bytes.Repeat([]byte("y"), quota)
	if err := c.Stor("a.txt", bytes.NewReader(body)); err != nil {
		t.Fatalf("TYPE A upload of exactly the quota: %v", err)
	}
	expectTransfer(t, log, 2, "STOR", 226, false)
	assertFile(t, "a.txt", filepath.Join(f.dir, "data", "acme", "alice", "a.txt"), body)
	expectUsage(t, f, "after the TYPE A upload", quota)
}

// TestQuotaEdgeTakesNothingAhead: where the quota has less than a splice
// step left, an upload reserves only the bytes that arrived (it goes
// through Write), so a running upload there takes nothing from another
// that fits: A stalls after 1000 bytes, B stores the rest of the quota
// meanwhile (226), then A completes (226) and the quota is full exactly.
func TestQuotaEdgeTakesNothingAhead(t *testing.T) {
	t.Parallel()
	const quota, base = 1_000_000, 900_000
	f, _ := quotaSpliceFixture(t, quota)
	b := f.mustLogin("alice", "acme-alice")
	if err := b.Stor("base.bin", bytes.NewReader(pattern(base, 1))); err != nil {
		t.Fatal(err)
	}
	a := f.startUpload(f.rawLoginAs("alice", "acme-alice"), "STOR", "a.bin")
	first := pattern(1000, 2)
	a.send(first)
	waitFor(t, "A's first bytes counted", func() bool {
		used, _ := f.usageOf()
		return used >= base+1000
	})
	if used, _ := f.usageOf(); used != base+1000 {
		t.Fatalf("usage with A's upload running: %d, want %d (its bytes, nothing ahead)", used, base+1000)
	}
	rest := pattern(quota-base-1000, 3)
	if err := b.Stor("b.bin", bytes.NewReader(rest)); err != nil {
		t.Fatalf("B's upload of the rest of the quota while A runs: %v", err)
	}
	if code, msg := a.finish(); code != 226 {
		t.Fatalf("A: %d %s", code, msg)
	}
	home := filepath.Join(f.dir, "data", "acme", "alice")
	assertFile(t, "a.bin", filepath.Join(home, "a.bin"), first)
	assertFile(t, "b.bin", filepath.Join(home, "b.bin"), rest)
	expectUsage(t, f, "at the quota", quota)
}
