package tenancy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jlaffaye/ftp"
	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/afero"
)

// lstatBarrier is a storage shared by two instances whose Stat of name
// waits until both instances have looked (at most a second): the
// interleaving two instances hit by chance when they replace one name at
// once, made certain.
type lstatBarrier struct {
	afero.Fs
	name string
	wg   *sync.WaitGroup
}

func (l lstatBarrier) Stat(name string) (os.FileInfo, error) {
	fi, err := l.Fs.Stat(name)
	if name == l.name {
		l.wg.Done()
		done := make(chan struct{})
		go func() { l.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
	return fi, err
}

// TestAttackSharedQuotaConcurrentReplace: two instances of a cluster
// rename a small file onto the same 1 MB file at once. Under its own name
// lock only, each instance found the 1 MB file there and both gave its
// bytes back to the shared usage: the usage fell 1 MB below what is
// stored per such race, and the tenant could store that much past its
// quota until the next count. With the name leases (LockNames) the second
// rename waits for the first and finds the small file it left. The
// barrier makes the interleaving certain: each look at /t.bin waits (at
// most a second) for the other instance's, which the lease prevents.
func TestAttackSharedQuotaConcurrentReplace(t *testing.T) {
	g1, g2, check := barrierPair(t)
	var done sync.WaitGroup
	done.Go(func() { _ = g1.renameCounted("/a.bin", "/t.bin") })
	done.Go(func() { _ = g2.renameCounted("/b.bin", "/t.bin") })
	done.Wait()
	check()
}

// TestAttackSharedQuotaConcurrentStorOver: the race of
// TestAttackSharedQuotaConcurrentReplace through the other way to replace
// a name, two uploads (STOR) over the same 1 MB file that commit at once
// through two instances: each looked at the name before its rename into
// place, so both gave back the 1 MB file.
func TestAttackSharedQuotaConcurrentStorOver(t *testing.T) {
	g1, g2, check := barrierPair(t)
	stor := func(g *guardFs, b byte) {
		fi, _ := g.inner.(lstatBarrier).Fs.Stat("/t.bin") // past the barrier: the look that counts is the commit's
		f, err := g.openUpload("/t.bin", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600, fi)
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := f.Write(pattern(10, b)); err != nil {
			t.Error(err)
		}
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}
	var done sync.WaitGroup
	done.Go(func() { stor(g1, 1) })
	done.Go(func() { stor(g2, 2) })
	done.Wait()
	check()
}

// barrierPair is two instances' guards of one memory storage holding a
// 1 MB /t.bin and two 10-byte files, /a.bin and /b.bin, sharing a byte
// quota through one miniredis; their look at /t.bin waits (at most a
// second) until both looked. check fails the test unless the shared usage
// equals the bytes stored.
func barrierPair(t *testing.T) (g1, g2 *guardFs, check func()) {
	const big = 1_000_000
	mem := afero.NewMemMapFs()
	write := func(name string, n int) {
		if err := afero.WriteFile(mem, name, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("/t.bin", big)
	write("/a.bin", 10)
	write("/b.bin", 10)
	client := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { _ = client.Close() })
	qs := NewRedisQuota(RedisOptions{Client: client, Prefix: "ftpgate:", Deadline: time.Second}, slog.New(slog.DiscardHandler))
	disk := func() int64 {
		var n int64
		_ = afero.Walk(mem, "/", func(_ string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				n += fi.Size()
			}
			return nil
		})
		return n
	}
	if _, err := qs.Reconcile(context.Background(), "acme", 0, func(context.Context) (StoredUsage, error) { return StoredUsage{Bytes: disk()}, nil }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	inst := func() *guardFs {
		u := newUsage()
		u.bytes = disk()
		return &guardFs{inner: lstatBarrier{Fs: mem, name: "/t.bin", wg: &wg}, u: u, maxBytes: 50_000_000, tenant: "acme",
			shared: qs, step: 64 << 10, kick: func() {}}
	}
	return inst(), inst(), func() {
		t.Helper()
		used, err := qs.Used(context.Background(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		if d := disk(); used != d {
			t.Fatalf("shared usage %d, bytes stored %d: the tenant may store %d bytes past its quota until the next count", used, d, d-used)
		}
	}
}

// TestAttackSharedQuotaFailedCountKeepsOthersLock: a count that outlives
// its lock (countLockTTL) and then fails must not remove the lock and the
// delta of the count another instance began meanwhile: that count's
// result would be thrown away (its end finds no lock) and the bytes
// reserved during it not carried over.
func TestAttackSharedQuotaFailedCountKeepsOthersLock(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	qs := NewRedisQuota(RedisOptions{Client: client, Prefix: "ftpgate:", Deadline: time.Second}, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if _, err := qs.Reconcile(ctx, "acme", 0, func(context.Context) (StoredUsage, error) { return StoredUsage{Bytes: 100}, nil }); err != nil {
		t.Fatal(err)
	}
	aMeasuring, aFail := make(chan struct{}), make(chan struct{})
	aDone := make(chan error, 1)
	go func() {
		_, err := qs.Reconcile(ctx, "acme", 0, func(context.Context) (StoredUsage, error) {
			close(aMeasuring)
			<-aFail
			return StoredUsage{}, errors.New("the walk failed")
		})
		aDone <- err
	}()
	<-aMeasuring
	mr.FastForward(countLockTTL + time.Second) // A's lock expires
	counted, err := qs.Reconcile(ctx, "acme", 0, func(context.Context) (StoredUsage, error) {
		close(aFail) // A fails while B counts
		if err := <-aDone; err == nil {
			t.Error("A's count should have failed")
		}
		return StoredUsage{Bytes: 5000}, nil
	})
	if !counted || err != nil {
		t.Fatalf("B's count: counted %v, %v", counted, err)
	}
	if used, err := qs.Used(ctx, "acme"); err != nil || used != 5000 {
		t.Fatalf("usage after B's count: %d (%v), want B's 5000", used, err)
	}
}

// TestAttackSharedQuotaConcurrentRenameOverFTP: the race of
// TestAttackSharedQuotaConcurrentReplace over the real protocol: six
// pairs of clients, one of each pair on each instance, rename a small
// file onto the same 200 KB file at once, round after round; the shared
// usage must equal the bytes on disk after every round. (Without the
// name leases it fell to 0 with 60 bytes on disk within three rounds:
// every 200 KB file given back twice.)
func TestAttackSharedQuotaConcurrentRenameOverFTP(t *testing.T) {
	a, b, qs := sharedQuotaPair(t, miniredis.RunT(t).Addr(), "ftpgate:", 500_000_000, 64<<10, false)
	renameRace(t, a, b, qs, "acme-alice", 15, func() int64 { return diskBytes(t, a) })
}

// TestAttackSharedQuotaConcurrentRenameOverS3: the same race on object
// storage, where a rename is a copy and a delete: the name lease does
// not depend on the backend.
func TestAttackSharedQuotaConcurrentRenameOverS3(t *testing.T) {
	s3 := newFakeS3(t)
	a := newFixture(t, map[string]string{
		"server.toml":       serverTOML("default = \"acme\"\n"),
		"tenants/acme.toml": s3TenantTOML(t, "acme", s3.url, "tenants/acme", "", "[quota]\nbytes = 500000000\n"),
	})
	b, qs := shareWithTwin(t, a, miniredis.RunT(t).Addr(), "ftpgate:", 64<<10, false)
	renameRace(t, a, b, qs, "alice-pw", 5, func() int64 {
		var n int64
		for o := range s3.client.ListObjects(context.Background(), "data", minio.ListObjectsOptions{Prefix: "tenants/acme/", Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			n += o.Size
		}
		return n
	})
}

// renameRace runs rounds of the race: six pairs of alice's sessions, one
// of each pair on each instance, rename a small file onto the same
// 200 KB file at once; the shared usage must equal stored() after every
// round.
func renameRace(t *testing.T, a, b *fixture, qs *RedisQuota, pass string, rounds int, stored func() int64) {
	const big, pairs = 200_000, 6
	var ca, cb [pairs]*ftp.ServerConn
	for i := range pairs {
		ca[i] = a.mustLogin("alice", pass)
		cb[i] = b.mustLogin("alice", pass)
	}
	for round := range rounds {
		for i := range pairs {
			_ = ca[i].Stor(fmt.Sprintf("t%d.bin", i), bytes.NewReader(pattern(big, byte(round))))
			_ = ca[i].Stor(fmt.Sprintf("a%d.bin", i), bytes.NewReader(pattern(10, 1)))
			_ = cb[i].Stor(fmt.Sprintf("b%d.bin", i), bytes.NewReader(pattern(10, 2)))
		}
		var wg sync.WaitGroup
		for i := range pairs {
			wg.Go(func() { _ = ca[i].Rename(fmt.Sprintf("a%d.bin", i), fmt.Sprintf("t%d.bin", i)) })
			wg.Go(func() { _ = cb[i].Rename(fmt.Sprintf("b%d.bin", i), fmt.Sprintf("t%d.bin", i)) })
		}
		wg.Wait()
		used, _ := qs.Used(context.Background(), "acme")
		if disk := stored(); used != disk {
			t.Fatalf("round %d: shared usage %d, bytes stored %d", round, used, disk)
		}
	}
}
