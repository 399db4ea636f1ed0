package tenancy

import (
	"os"
	"syscall"
	"testing"
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
