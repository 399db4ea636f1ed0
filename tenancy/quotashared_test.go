package tenancy

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// twin serves a second instance on f's configuration and storage, as a
// second gateway of a cluster does.
func (f *fixture) twin() *fixture {
	f.t.Helper()
	cfg, err := LoadConfig(filepath.Join(f.dir, "server.toml"))
	if err != nil {
		f.t.Fatal(err)
	}
	d, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.t.Fatal(err)
	}
	waitCounts(f.t, d)
	f.t.Cleanup(func() { _ = d.Close() })
	g := &fixture{t: f.t, dir: f.dir, driver: d}
	g.srv = &engine.Server{Driver: d, Logger: slog.New(slog.DiscardHandler)}
	g.addr = enginetest.Start(f.t, g.srv).Addr
	return g
}

// sharedQuotaPair is two instances sharing acme's storage and a byte
// quota of quota bytes through the Redis at addr, uploads reserving step
// bytes at a time; the first count is done when it returns.
func sharedQuotaPair(t *testing.T, addr, prefix string, quota, step int64, failOpen bool) (a, b *fixture, qs *RedisQuota) {
	t.Helper()
	return sharedPair(t, addr, prefix, fmt.Sprintf("bytes = %d\n", quota), step, failOpen)
}

// sharedPair is sharedQuotaPair with acme's [quota] table given whole.
func sharedPair(t *testing.T, addr, prefix, quotaTOML string, step int64, failOpen bool) (a, b *fixture, qs *RedisQuota) {
	t.Helper()
	a = newFixture(t, map[string]string{
		"server.toml":       serverTOML("default = \"acme\"\n"),
		"tenants/acme.toml": acmeTOML(t, "[quota]\n"+quotaTOML),
	})
	b, qs = shareWithTwin(t, a, addr, prefix, step, failOpen)
	return a, b, qs
}

// shareWithTwin serves a second instance on a's configuration and makes
// both share acme's quota through the Redis at addr; the first count is
// done when it returns.
func shareWithTwin(t *testing.T, a *fixture, addr, prefix string, step int64, failOpen bool) (b *fixture, qs *RedisQuota) {
	t.Helper()
	b = a.twin()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	qs = NewRedisQuota(RedisOptions{Client: client, Prefix: prefix, Deadline: time.Second, FailOpen: failOpen}, slog.New(slog.DiscardHandler))
	a.driver.ShareQuota(qs, step, time.Hour)
	b.driver.ShareQuota(qs, step, time.Hour)
	waitFor(t, "the first shared count", func() bool {
		_, err := qs.Used(context.Background(), "acme")
		return err == nil
	})
	return b, qs
}

// diskBytes is what acme's files hold on disk, temporary files included.
func diskBytes(t *testing.T, f *fixture) int64 {
	t.Helper()
	var n int64
	_ = filepath.Walk(filepath.Join(f.dir, "data", "acme"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// testSharedQuotaHolds: a quota of 1 MB shared by two instances. 600 KB
// stored through A leave no room for 600 KB through B (552; each instance
// counting its own would have taken it). Then eight clients, four through
// each instance, upload 100 KB each in parallel: with no count running
// the bound of RedisQuota is zero, so the bytes on disk never pass the
// quota, refused uploads leave nothing, and the shared usage equals the
// bytes on disk after; deleting through B frees room for A.
func testSharedQuotaHolds(t *testing.T, addr string) {
	const quota, size, step = 1_000_000, 100_000, 64 << 10
	a, b, qs := sharedQuotaPair(t, addr, "ftpgate:", quota, step, false)
	ca := a.mustLogin("alice", "acme-alice")
	cb := b.mustLogin("alice", "acme-alice")
	if err := ca.Stor("first.bin", bytes.NewReader(pattern(600_000, 1))); err != nil {
		t.Fatalf("600 KB through A: %v", err)
	}
	if code := replyCode(cb.Stor("second.bin", bytes.NewReader(pattern(600_000, 2)))); code != 552 {
		t.Fatalf("600 KB more through B: %d, want 552", code)
	}
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for i := range 8 {
		f := a
		if i%2 == 1 {
			f = b
		}
		wg.Go(func() {
			c, err := f.login("alice", "acme-alice")
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Quit()
			codes <- replyCode(c.Stor(fmt.Sprintf("f%d.bin", i), bytes.NewReader(pattern(size, byte(i)))))
		})
	}
	wg.Wait()
	close(codes)
	stored := int64(0)
	for code := range codes {
		switch code {
		case 0:
			stored++
		case 552:
		default:
			t.Errorf("upload ended with %d", code)
		}
	}
	disk := diskBytes(t, a)
	if disk > quota {
		t.Fatalf("%d bytes on disk, over the quota of %d", disk, quota)
	}
	if disk != 600_000+stored*size {
		t.Fatalf("%d uploads stored, %d bytes on disk", stored, disk)
	}
	if used, err := qs.Used(context.Background(), "acme"); err != nil || used != disk {
		t.Fatalf("shared usage %d (%v), bytes on disk %d", used, err, disk)
	}
	entries, _ := os.ReadDir(filepath.Join(a.dir, "data", "acme", "alice"))
	for _, e := range entries {
		if err := cb.Delete(e.Name()); err != nil {
			t.Fatal(err)
		}
	}
	if used, _ := qs.Used(context.Background(), "acme"); used != 0 {
		t.Fatalf("shared usage after deleting everything: %d", used)
	}
	if err := ca.Stor("again.bin", bytes.NewReader(pattern(900_000, 9))); err != nil {
		t.Fatalf("upload after the deletions: %v", err)
	}
}

// testSharedQuotaCountBound: an upload holds its step when a count
// begins; what it writes after the count is missed, so the usage after
// the upload is below what is on disk by at most one step (the bound
// of RedisQuota), and the next count repairs it.
func testSharedQuotaCountBound(t *testing.T, addr string) {
	const quota, step = 10_000_000, 100_000
	a, b, qs := sharedQuotaPair(t, addr, "ftpgate:", quota, step, false)
	c := a.rawLogin()
	up := a.startUpload(c, "STOR", "big.bin")
	up.send(pattern(10_000, 1)) // takes one step of 100 000
	waitFor(t, "the step taken", func() bool {
		used, _ := qs.Used(context.Background(), "acme")
		return used >= step
	})
	// B counts now, with A's upload in flight (the count of a period
	// forced: the drivers' own holds the lock).
	st := b.driver.state.Load().tenants["acme"].storage
	qs.opts.Client.Del(context.Background(), "ftpgate:quota:acme:lock") // the drivers' count holds it for the period
	if ok, err := qs.Reconcile(context.Background(), "acme", 0, func(ctx context.Context) (StoredUsage, error) { return measureStorage(ctx, st) }); !ok || err != nil {
		t.Fatalf("count: %v %v", ok, err)
	}
	up.send(pattern(250_000, 2))
	if code, msg := up.finish(); code != 226 {
		t.Fatalf("upload: %d %s", code, msg)
	}
	disk := diskBytes(t, a)
	used, _ := qs.Used(context.Background(), "acme")
	if disk-used < 0 || disk-used > step {
		t.Fatalf("usage %d, bytes on disk %d: off by more than one step (%d)", used, disk, step)
	}
	qs.opts.Client.Del(context.Background(), "ftpgate:quota:acme:lock") // the drivers' count holds it for the period
	if ok, err := qs.Reconcile(context.Background(), "acme", 0, func(ctx context.Context) (StoredUsage, error) { return measureStorage(ctx, st) }); !ok || err != nil {
		t.Fatalf("count: %v %v", ok, err)
	}
	if used, _ := qs.Used(context.Background(), "acme"); used != disk {
		t.Fatalf("usage %d after a count, bytes on disk %d", used, disk)
	}
}

// testSharedQuotaOutage: with Redis down, a quota failing closed refuses
// uploads with 451 and one failing open enforces this instance's own
// count; when Redis is back, uploads count again without a restart.
func testSharedQuotaOutage(t *testing.T, addr string, stop, start func()) {
	const quota, step = 1_000_000, 64 << 10
	closed, _, qs := sharedQuotaPair(t, addr, "closed:", quota, step, false)
	open, _, _ := sharedQuotaPair(t, addr, "open:", quota, step, true)
	cc := closed.mustLogin("alice", "acme-alice")
	co := open.mustLogin("alice", "acme-alice")
	if err := cc.Stor("keep.bin", bytes.NewReader(pattern(1000, 1))); err != nil {
		t.Fatal(err)
	}
	stop()
	if code := replyCode(cc.Stor("x.bin", bytes.NewReader(pattern(1000, 1)))); code != 451 {
		t.Fatalf("fail closed, Redis down: %d", code)
	}
	// A removal takes nothing from the quota: it goes on without the
	// name's lease, so that a tenant can free room during the outage.
	if err := cc.Delete("keep.bin"); err != nil {
		t.Fatalf("fail closed, Redis down, DELE: %v", err)
	}
	if _, err := os.Stat(filepath.Join(closed.dir, "data", "acme", "alice", "keep.bin")); !os.IsNotExist(err) {
		t.Fatalf("the file deleted during the outage is still there: %v", err)
	}
	if err := co.Stor("x.bin", bytes.NewReader(pattern(1000, 1))); err != nil {
		t.Fatalf("fail open, Redis down: %v", err)
	}
	if code := replyCode(co.Stor("y.bin", bytes.NewReader(pattern(quota, 1)))); code != 552 {
		t.Fatalf("fail open, Redis down, over the local count: %d", code)
	}
	start()
	waitFor(t, "uploads after Redis is back", func() bool {
		return cc.Stor("x.bin", bytes.NewReader(pattern(1000, 1))) == nil
	})
	if used, err := qs.Used(context.Background(), "acme"); err != nil || used < 1000 {
		t.Fatalf("usage after the outage: %d %v", used, err)
	}
}

func TestSharedQuotaHoldsMiniredis(t *testing.T) {
	t.Parallel()
	testSharedQuotaHolds(t, miniredis.RunT(t).Addr())
}

func TestSharedQuotaCountBoundMiniredis(t *testing.T) {
	t.Parallel()
	testSharedQuotaCountBound(t, miniredis.RunT(t).Addr())
}

func TestSharedQuotaOutageMiniredis(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	testSharedQuotaOutage(t, mr.Addr(), mr.Close, func() {
		if err := mr.Restart(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSharedQuotaHoldsRedisServer(t *testing.T) {
	t.Parallel()
	testSharedQuotaHolds(t, redistest.Start(t).Addr())
}

func TestSharedQuotaCountBoundRedisServer(t *testing.T) {
	t.Parallel()
	testSharedQuotaCountBound(t, redistest.Start(t).Addr())
}

// TestSharedQuotaOutageRedisServer: Redis stopped, then restarted without
// its data (no persistence): the usage is counted again at once (an
// upload that finds it missing asks for the count) and uploads go on.
func TestSharedQuotaOutageRedisServer(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	testSharedQuotaOutage(t, srv.Addr(), srv.Stop, srv.Restart)
}

// TestRedisQuotaOneCountPerPeriod: after a count the lock stays for the
// period, so another instance does not count again; a Redis that lost
// the count (restarted empty) is counted at once all the same.
func TestRedisQuotaOneCountPerPeriod(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	qs := NewRedisQuota(RedisOptions{Client: client, Prefix: "x:", Deadline: 5 * time.Second}, nil)
	measure := func(n int64) func(context.Context) (StoredUsage, error) {
		return func(context.Context) (StoredUsage, error) { return StoredUsage{Bytes: n}, nil }
	}
	ctx := context.Background()
	if ok, err := qs.Reconcile(ctx, "acme", time.Hour, measure(5)); !ok || err != nil {
		t.Fatalf("first count: %v %v", ok, err)
	}
	if ok, err := qs.Reconcile(ctx, "acme", time.Hour, measure(7)); ok || err != nil {
		t.Fatalf("a second count within the period: %v %v", ok, err)
	}
	if used, _ := qs.Used(ctx, "acme"); used != 5 {
		t.Fatalf("used %d, want 5", used)
	}
	mr.Del("x:quota:acme:used")
	if _, err := qs.Reserve(ctx, "acme", 1, 1, 10); err != ErrNotCounted {
		t.Fatalf("Reserve without a count: %v", err)
	}
	if ok, err := qs.Reconcile(ctx, "acme", time.Hour, measure(7)); !ok || err != nil {
		t.Fatalf("a count after the count was lost: %v %v", ok, err)
	}
	if g, err := qs.Reserve(ctx, "acme", 1, 100, 10); g != 3 || err != nil {
		t.Fatalf("Reserve of what is left: %d %v", g, err)
	}
	if _, err := qs.Reserve(ctx, "acme", 1, 1, 10); err != ErrQuotaFull {
		t.Fatalf("Reserve past the quota: %v", err)
	}
}

// diskEntries is what acme's storage holds as entries of the files quota:
// every file, directory and link below its root, temporary upload files
// excepted.
func diskEntries(t *testing.T, f *fixture) int64 {
	t.Helper()
	root := filepath.Join(f.dir, "data", "acme")
	var n int64
	_ = filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err == nil && p != root && !isTempName(filepath.Base(p)) {
			n++
		}
		return nil
	})
	return n
}

// testSharedFilesQuota: a files quota of 8 entries shared by two
// instances. Filling what is left through both leaves no room through
// either (552 for STOR and MKD; each instance counting its own would
// still have taken half as many again), the shared count equals the
// entries on disk, and a deletion through one frees room for the other.
func testSharedFilesQuota(t *testing.T, addr string) {
	const limit = 8
	a, b, qs := sharedPair(t, addr, "ftpgate:", fmt.Sprintf("files = %d\n", limit), 0, false)
	ca := a.mustLogin("alice", "acme-alice")
	cb := b.mustLogin("alice", "acme-alice")
	u, err := qs.Usage(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if disk := diskEntries(t, a); u.Files != disk {
		t.Fatalf("shared count %d after the logins, %d entries on disk", u.Files, disk)
	}
	free := limit - u.Files
	if free < 4 {
		t.Fatalf("only %d entries free at the start", free)
	}
	for i := range free {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		if err := c.Stor(fmt.Sprintf("f%d.txt", i), bytes.NewReader(pattern(10, byte(i)))); err != nil {
			t.Fatalf("upload %d of %d free entries: %v", i+1, free, err)
		}
	}
	if code := replyCode(ca.Stor("over-a.txt", bytes.NewReader(pattern(10, 1)))); code != 552 {
		t.Fatalf("one file past the quota through A: %d, want 552", code)
	}
	if code := replyCode(cb.MakeDir("over-b")); code != 552 {
		t.Fatalf("one directory past the quota through B: %d, want 552", code)
	}
	if err := ca.Stor("f0.txt", bytes.NewReader(pattern(20, 9))); err != nil {
		t.Fatalf("replacing a file at the quota: %v", err)
	}
	if u, _ := qs.Usage(context.Background(), "acme"); u.Files != limit || diskEntries(t, a) != limit {
		t.Fatalf("shared count %d, %d entries on disk, want %d", u.Files, diskEntries(t, a), limit)
	}
	if err := cb.Delete("f1.txt"); err != nil {
		t.Fatal(err)
	}
	if err := ca.Stor("again.txt", bytes.NewReader(pattern(10, 3))); err != nil {
		t.Fatalf("upload through A after a deletion through B: %v", err)
	}
	if u, _ := qs.Usage(context.Background(), "acme"); u.Files != diskEntries(t, a) {
		t.Fatalf("shared count %d, %d entries on disk", u.Files, diskEntries(t, a))
	}
}

func TestSharedFilesQuotaMiniredis(t *testing.T) {
	t.Parallel()
	testSharedFilesQuota(t, miniredis.RunT(t).Addr())
}

func TestSharedFilesQuotaRedisServer(t *testing.T) {
	t.Parallel()
	testSharedFilesQuota(t, redistest.Start(t).Addr())
}

// TestSharedQuotaAVBL: AVBL through instance B answers what the shared
// usage leaves, so an upload through instance A shows in it at once
// (B's own count never saw that upload).
func TestSharedQuotaAVBL(t *testing.T) {
	t.Parallel()
	const quota, size = 1_000_000, 300_000
	a, b, qs := sharedQuotaPair(t, miniredis.RunT(t).Addr(), "ftpgate:", quota, 64<<10, false)
	rb := b.rawLogin()
	avbl := func() int64 {
		t.Helper()
		code, msg := rb.cmd("AVBL")
		if code != 213 {
			t.Fatalf("AVBL through B: %d %s", code, msg)
		}
		n, err := strconv.ParseInt(strings.Fields(msg)[0], 10, 64)
		if err != nil {
			t.Fatalf("AVBL %q: %v", msg, err)
		}
		return n
	}
	before := avbl()
	if err := a.mustLogin("alice", "acme-alice").Stor("x.bin", bytes.NewReader(pattern(size, 1))); err != nil {
		t.Fatal(err)
	}
	after := avbl()
	if before-after != size {
		t.Fatalf("AVBL through B: %d before and %d after %d bytes stored through A", before, after, size)
	}
	if used, _ := qs.Used(context.Background(), "acme"); after != quota-used || after != quota-diskBytes(t, a) {
		t.Fatalf("AVBL through B: %d, shared usage %d, bytes on disk %d, quota %d", after, used, diskBytes(t, a), quota)
	}
}

// TestSharedQuotaNameLeaseOfDeadInstance: an instance killed while it
// held a name's lease (its key left in Redis, no longer renewed) keeps the
// name from the other instances for at most nameLeaseTTL: meanwhile a
// DELE of that name through B waits nameLockWait and is refused with a
// transient 450, the file staying; once the lease lapses the DELE goes
// through and the usage follows.
func TestSharedQuotaNameLeaseOfDeadInstance(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	a, b, qs := sharedQuotaPair(t, mr.Addr(), "ftpgate:", 1_000_000, 64<<10, false)
	if err := a.mustLogin("alice", "acme-alice").Stor("x.bin", bytes.NewReader(pattern(5000, 1))); err != nil {
		t.Fatal(err)
	}
	h := nameHash("/alice/x.bin")
	if err := mr.Set("ftpgate:quota:acme:ns:"+h, "the dead instance's token"); err != nil {
		t.Fatal(err)
	}
	mr.SetTTL("ftpgate:quota:acme:ns:"+h, nameLeaseTTL)
	if _, err := mr.SAdd("ftpgate:quota:acme:nsheld", h); err != nil {
		t.Fatal(err)
	}
	cb := b.mustLogin("alice", "acme-alice")
	if code := replyCode(cb.Delete("x.bin")); code != 450 {
		t.Fatalf("DELE of a name held by a dead instance: %d, want 450", code)
	}
	if disk := diskBytes(t, a); disk != 5000 {
		t.Fatalf("%d bytes on disk after the refused DELE", disk)
	}
	mr.FastForward(nameLeaseTTL)
	if err := cb.Delete("x.bin"); err != nil {
		t.Fatalf("DELE after the lease lapsed: %v", err)
	}
	if used, _ := qs.Used(context.Background(), "acme"); used != 0 || diskBytes(t, a) != 0 {
		t.Fatalf("shared usage %d, bytes on disk %d after the DELE", used, diskBytes(t, a))
	}
}

// TestRedisQuotaTreeLease: the lease of a whole storage (a removal of a
// tree) waits for the names held before it, keeps new names out while it
// waits (so a stream of changes cannot starve it) and until it is
// released, and lets them in after.
func TestRedisQuotaTreeLease(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { _ = client.Close() })
	qs := NewRedisQuota(RedisOptions{Client: client, Prefix: "x:", Deadline: time.Second}, nil)
	ctx := context.Background()
	unlockA, err := qs.LockNames(ctx, "acme", "/a")
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan string, 4)
	treeDone := make(chan func(), 1)
	go func() {
		unlock, err := qs.LockNames(ctx, "acme", TreeLock)
		if err != nil {
			t.Error(err)
			unlock = func() {}
		}
		events <- "tree"
		treeDone <- unlock
	}()
	waitFor(t, "the tree's gate", func() bool {
		v, _ := client.Get(ctx, "x:quota:acme:nstree").Result()
		return v != ""
	})
	bDone := make(chan struct{})
	go func() {
		defer close(bDone)
		unlock, err := qs.LockNames(ctx, "acme", "/b")
		if err != nil {
			t.Error(err)
			return
		}
		events <- "b"
		unlock()
	}()
	events <- "a released"
	unlockA()
	unlockTree := <-treeDone
	events <- "tree released"
	unlockTree()
	<-bDone
	close(events)
	var got []string
	for e := range events {
		got = append(got, e)
	}
	if want := []string{"a released", "tree", "tree released", "b"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}
