//go:build linux

package tenancy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"golang.org/x/sys/unix"

	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// leaseWait bounds each wait of TestOpenWaitsForLeaseBreak: for the
// lease-break signal, and for the client's command once the lease is
// given up.
const leaseWait = 10 * time.Second

// holdLease opens path read-only and takes a lease of kind (unix.F_RDLCK
// or unix.F_WRLCK) on it, as Samba with kernel oplocks or the kernel NFS
// server does on a file it shares. The caller gives it up with
// releaseLease.
func holdLease(t *testing.T, path string, kind int) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETLEASE, kind); err != nil {
		f.Close()
		// Leases need the file's owner (or CAP_LEASE) and a filesystem
		// that has them: ext4 and tmpfs do.
		t.Fatalf("F_SETLEASE on %s: %v", path, err)
	}
	return f
}

// releaseLease gives the lease on f up, as its holder does when told of a
// break, and closes f.
func releaseLease(t *testing.T, f *os.File) {
	t.Helper()
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_UNLCK); err != nil {
		t.Error(err)
	}
	f.Close()
}

// TestOpenWaitsForLeaseBreak: another process (here the test itself)
// holds a file lease on a file in a user's storage, as Samba (kernel
// oplocks) or the kernel NFS server (delegations) do when the operator
// shares the same directory. Through a real client, an APPE and a
// REST+STOR of a file under a read lease, and a RETR of one under a write
// lease, each start the lease break (the holder gets SIGIO) and wait; the
// holder gives the lease up, and the command then completes with 226: the
// bytes are on disk, or received. Before, every open of a tenant's file
// had O_NONBLOCK, which makes the kernel fail a conflicting open at once
// with EWOULDBLOCK: the commands failed (451/550) while the holder was
// still being told.
//
// Not parallel: SIGIO goes to the whole process, and the test must tell
// its own lease's break from another's.
func TestOpenWaitsForLeaseBreak(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := testRoot(t, dir)
	g := &guardFs{inner: &rootFs{root: root}, rules: []PermissionConfig{{Prefix: "/", Allow: PermAll}}, u: &usage{}, maxBytes: 1 << 30}
	addr := serveGuard(t, g)
	c := enginetest.Login(t, addr, "", "u", "p")
	if err := c.Type(ftp.TransferTypeBinary); err != nil {
		t.Fatal(err)
	}

	// A lease break is told by SIGIO (no F_SETSIG here); Go ignores it
	// unless notified, and a holder that is not told never gives up.
	sigio := make(chan os.Signal, 1)
	signal.Notify(sigio, syscall.SIGIO)
	defer signal.Stop(sigio)

	old := pattern(3000, 1)
	add := pattern(5000, 7)
	cases := []struct {
		name  string
		file  string
		lease int
		// run is the client's command; it returns the bytes received
		// (RETR) or nil.
		run func(c *ftp.ServerConn, file string) ([]byte, error)
		// want is the file's content afterwards, and what RETR receives.
		want []byte
	}{
		{"APPE under a read lease", "/appe.bin", unix.F_RDLCK,
			func(c *ftp.ServerConn, file string) ([]byte, error) {
				return nil, c.Append(file, bytes.NewReader(add))
			}, append(append([]byte{}, old...), add...)},
		{"REST+STOR under a read lease", "/sub/rest.bin", unix.F_RDLCK,
			func(c *ftp.ServerConn, file string) ([]byte, error) {
				return nil, c.StorFrom(file, bytes.NewReader(add), 1000)
			}, append(append([]byte{}, old[:1000]...), add...)},
		{"RETR under a write lease", "/sub/retr.bin", unix.F_WRLCK,
			func(c *ftp.ServerConn, file string) ([]byte, error) {
				r, err := c.Retr(file)
				if err != nil {
					return nil, err
				}
				b, err := io.ReadAll(r)
				return b, errors.Join(err, r.Close())
			}, old},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			disk := filepath.Join(dir, filepath.FromSlash(tc.file))
			if err := os.WriteFile(disk, old, 0o644); err != nil {
				t.Fatal(err)
			}
			// A signal left from an earlier case is not this one's.
			select {
			case <-sigio:
			default:
			}
			lease := holdLease(t, disk, tc.lease)
			type result struct {
				got []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				got, err := tc.run(c, tc.file)
				done <- result{got, err}
			}()

			deadline := time.NewTimer(leaseWait)
			defer deadline.Stop()
			select {
			case <-sigio:
				releaseLease(t, lease)
			case r := <-done:
				releaseLease(t, lease)
				t.Fatalf("the command ended while the lease was held, before its break was told: %v", r.err)
			case <-deadline.C:
				releaseLease(t, lease)
				t.Fatalf("no lease-break signal within %v", leaseWait)
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(leaseWait):
				t.Fatalf("the command did not end within %v of the lease's release", leaseWait)
			}
			if r.err != nil {
				t.Fatalf("command failed: %v", r.err)
			}
			if r.got != nil && !bytes.Equal(r.got, tc.want) {
				t.Errorf("received %d bytes, want the file's %d", len(r.got), len(tc.want))
			}
			onDisk, err := os.ReadFile(disk)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(onDisk, tc.want) {
				t.Errorf("on disk: %d bytes, want %d (old then new)", len(onDisk), len(tc.want))
			}
		})
	}
	// The session is still usable.
	if err := c.NoOp(); err != nil {
		t.Errorf("NOOP after the leases: %v", err)
	}
}
