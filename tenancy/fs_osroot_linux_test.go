package tenancy

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// TestRootFsOpensNonblocking: every file rootFs opens carries O_NONBLOCK
// from its open, so Go's os package does not set and clear it again with
// four fcntl calls per open (issue 17; strace showed them on every STOR
// and RETR). The handle still reads and writes the bytes.
func TestRootFsOpensNonblocking(t *testing.T) {
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	r := &rootFs{root: root}
	flags := func(what string, f any) int {
		t.Helper()
		of, ok := f.(*os.File)
		if !ok {
			t.Fatalf("%s: %T, want *os.File", what, f)
		}
		sc, err := of.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var fl int
		var ferr error
		if err := sc.Control(func(fd uintptr) {
			fl, ferr = fcntlGetFlags(int(fd))
		}); err != nil || ferr != nil {
			t.Fatalf("%s: F_GETFL: %v %v", what, err, ferr)
		}
		return fl
	}
	for _, tc := range []struct {
		what string
		flag int
	}{
		{"create excl", os.O_WRONLY | os.O_CREATE | os.O_EXCL},
		{"truncate", os.O_WRONLY | os.O_CREATE | os.O_TRUNC},
		{"read", os.O_RDONLY},
	} {
		f, err := r.OpenFile("/f.bin", tc.flag, 0o644)
		if err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if fl := flags(tc.what, f); fl&syscall.O_NONBLOCK == 0 {
			t.Errorf("%s: flags %#x without O_NONBLOCK", tc.what, fl)
		}
		if tc.flag&os.O_WRONLY != 0 {
			if _, err := f.Write([]byte("bytes")); err != nil {
				t.Errorf("%s: write: %v", tc.what, err)
			}
		} else {
			b := make([]byte, 16)
			if n, err := f.Read(b); err != nil || string(b[:n]) != "bytes" {
				t.Errorf("%s: read %q, %v", tc.what, b[:n], err)
			}
		}
		_ = f.Close()
	}
	f, _, err := r.openStat("/f.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fl := flags("openStat", f); fl&syscall.O_NONBLOCK == 0 {
		t.Errorf("openStat: flags %#x without O_NONBLOCK", fl)
	}
}

// fcntlGetFlags returns fd's file status flags.
func fcntlGetFlags(fd int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// newReplaceFixture serves a guard over rootFs in dir to "u"/"p".
func newReplaceFixture(t *testing.T, dir string) string {
	t.Helper()
	root := testRoot(t, dir)
	g := &guardFs{inner: &rootFs{root: root}, rules: []PermissionConfig{{Prefix: "/", Allow: PermAll}}, u: &usage{}, maxBytes: 1 << 30}
	addr := serveGuard(t, g)
	return addr
}

// TestReplaceKeepsReadersBytes: an upload that replaces a file (through
// replaceFile's exchange and unlink on Linux) leaves a download of the
// old file that is under way with every old byte, the next download gets
// the new bytes, the directory holds the new file and no temporary file,
// and the replaced file's bytes are given back to the usage.
func TestReplaceKeepsReadersBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := newReplaceFixture(t, dir)
	old, repl := pattern(4<<20, 1), pattern(100<<10, 2)
	reader := enginetest.Login(t, addr, "", "u", "p")
	writer := enginetest.Login(t, addr, "", "u", "p")
	if err := writer.Stor("/f.bin", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	r, err := reader.Retr("/f.bin")
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	if err := writer.Stor("/f.bin", bytes.NewReader(repl)); err != nil {
		t.Fatalf("STOR over a file being read: %v", err)
	}
	rest, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil || !bytes.Equal(append(head, rest...), old) {
		t.Fatalf("the download under way got %d bytes (%v); want the %d old ones", len(head)+len(rest), err, len(old))
	}
	assertFile(t, "f.bin", filepath.Join(dir, "f.bin"), repl)
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestReplaceFileSwapsADirectoryBack: a directory found at the target at
// the exchange (put there from outside after the upload looked) is
// swapped back with its contents, the upload fails as a rename over it
// would, and the temporary file is still there for the caller to remove.
func TestReplaceFileSwapsADirectoryBack(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "target", "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := tempPrefix + "test"
	if err := os.WriteFile(filepath.Join(dir, tmp), []byte("upload"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := testRoot(t, dir)
	r := &rootFs{root: root}
	fi, err := os.Lstat(filepath.Join(dir, "target"))
	if err != nil {
		t.Fatal(err)
	}
	done, err := r.replaceFile("/"+tmp, "/target", nil, fi)
	if !done || err == nil {
		t.Fatalf("replaceFile over a directory: done %v, err %v; want done with an error", done, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "target", "inner")); err != nil || !fi.IsDir() {
		t.Fatalf("the directory is not back at its name: %v", err)
	}
	assertFile(t, tmp, filepath.Join(dir, tmp), []byte("upload"))
}

// TestReplaceFileDeclinesAcrossDirectories: a temporary file elsewhere than
// the target's directory is left to Rename.
func TestReplaceFileDeclinesAcrossDirectories(t *testing.T) {
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	r := &rootFs{root: root}
	if done, err := r.replaceFile("/a/"+tempPrefix+"x", "/b/target", nil, nil); done || err != nil {
		t.Fatalf("replaceFile across directories: done %v, err %v; want declined", done, err)
	}
}

// BenchmarkGuardUpload measures a small upload's path through the guard
// (open, one write, close: the rename into place included), with and
// without a byte quota, on the os backend (TMPDIR's filesystem), by one
// uploader and by 32 at once replacing their own files in one directory
// (the small-files load's shape: ext4 made each such replacing rename
// cost several times a lone one). cpu-us/op is the process's CPU time
// per upload, the figure to compare (the wall time waits for the disk).
func BenchmarkGuardUpload(b *testing.B) {
	for _, quota := range []int64{0, 1 << 40} {
		for _, par := range []int{1, 32} {
			b.Run(fmt.Sprintf("quota=%v/uploaders=%d", quota > 0, par), func(b *testing.B) {
				root, err := os.OpenRoot(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				defer root.Close()
				g := &guardFs{inner: &rootFs{root: root, keepDot: true}, u: &usage{}, maxBytes: quota} // as a session's home
				payload := pattern(64<<10, 1)
				var next atomic.Int32
				cpu0 := processCPU(b)
				defer func() {
					b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
				}()
				upload := func(name string) {
					f, err := g.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
					if err == nil {
						_, err = f.Write(payload)
						if cerr := f.Close(); err == nil {
							err = cerr
						}
					}
					if err != nil {
						b.Error(err)
					}
				}
				if par == 1 {
					for b.Loop() {
						upload("/f0")
					}
					return
				}
				b.SetParallelism((par + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					name := fmt.Sprintf("/f%d", next.Add(1))
					for pb.Next() {
						upload(name)
					}
				})
			})
		}
	}
}

// processCPU returns the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSettled: a replaced file's bytes are taken as on the disk (so the
// new data is started out before the swap) once its ctime is
// replaceSettled old, not before; a FileInfo without a stat says settled,
// the safe side.
func TestSettled(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) os.FileInfo {
		c := now.Add(-d)
		return fakeStatInfo{st: &syscall.Stat_t{Ctim: syscall.NsecToTimespec(c.UnixNano())}}
	}
	for _, tc := range []struct {
		fi   os.FileInfo
		want bool
	}{
		{at(0), false},
		{at(replaceSettled - time.Second), false},
		{at(replaceSettled), true},
		{at(time.Hour), true},
		{at(-time.Hour), false}, // a ctime ahead of the clock: not settled
		{fakeStatInfo{}, true},
		{nil, true},
	} {
		if got := settled(tc.fi, now); got != tc.want {
			t.Errorf("settled(%v) = %v, want %v", tc.fi, got, tc.want)
		}
	}
}

// fakeStatInfo is a FileInfo whose Sys is st (nil: none).
type fakeStatInfo struct {
	os.FileInfo
	st *syscall.Stat_t
}

func (f fakeStatInfo) Sys() any {
	if f.st == nil {
		return nil
	}
	return f.st
}
