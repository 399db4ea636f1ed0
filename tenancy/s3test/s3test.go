// Package s3test runs a real S3-compatible object store for tests:
// SeaweedFS's `weed mini`, serving S3 on 127.0.0.1 only, from the binary
// named by FTPGATE_WEED (bash .ci/seaweedfs builds or reuses it and prints
// its path; .ci/test sets the variable).
//
// Without FTPGATE_WEED, Start skips the test, unless
// FTPGATE_INTEGRATION=1, where it fails, as it does when weed cannot
// start: under CI a missing store is an error, not a pass.
//
//	st := s3test.Start(t)
//	st.MakeBucket(t, "b")
//	// st.URL, st.AccessKey, st.SecretKey for a tenant file; st.Client directly.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Credentials of the one identity Start configures (Admin, Read, List,
// Tagging and Write on every bucket).
const (
	AccessKey = "ftpgatetest"
	SecretKey = "ftpgate-test-secret-key"
	// Region is the region the client signs for.
	Region = "us-east-1"
)

// startTimeout bounds how long Start and MakeBucket wait for the store to
// answer (weed mini starts its master, volume, filer and S3 servers; on a
// loaded two-core machine that takes seconds, rarely a minute).
const startTimeout = 3 * time.Minute

// stopTimeout bounds how long a stop waits after SIGTERM before SIGKILL.
const stopTimeout = 30 * time.Second

// Store is a running weed mini, stopped when the test that started it
// ends.
type Store struct {
	// Endpoint is the S3 server's host:port (127.0.0.1:PORT), as
	// minio.New takes it.
	Endpoint string
	// URL is "http://" + Endpoint, as a tenant's storage endpoint.
	URL string
	// AccessKey and SecretKey are the identity's credentials.
	AccessKey, SecretKey string
	// Client is a minio-go client for the store (path-style addressing).
	Client *minio.Client

	log    *lockedBuffer
	exited chan error
}

// Start runs weed mini on a free loopback port in a temporary directory
// with one identity (AccessKey, SecretKey) and returns once its S3 server
// answers. Telemetry, WebDAV, the admin UI and the catalog servers are
// off: no traffic leaves the machine. The process group is stopped by
// t.Cleanup; the store's log is printed when t failed.
func Start(t testing.TB) *Store {
	t.Helper()
	bin := os.Getenv("FTPGATE_WEED")
	if bin == "" {
		if os.Getenv("FTPGATE_INTEGRATION") == "1" {
			t.Fatal("FTPGATE_WEED is not set: .ci/test sets it from .ci/seaweedfs (which builds or reuses the weed binary)")
		}
		t.Skip("FTPGATE_WEED not set (bash .ci/seaweedfs prints the binary)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s3.json")
	ident := fmt.Sprintf(`{"identities":[{"name":"ftpgate","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","List","Tagging","Write"]}]}`, AccessKey, SecretKey)
	if err := os.WriteFile(cfg, []byte(ident), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{
		Endpoint: "127.0.0.1:" + strconv.Itoa(port), AccessKey: AccessKey, SecretKey: SecretKey,
		log: &lockedBuffer{}, exited: make(chan error, 1),
	}
	s.URL = "http://" + s.Endpoint
	cmd := exec.Command(bin, "mini", "-dir", data, "-ip", "127.0.0.1", "-ip.bind", "127.0.0.1",
		"-s3.port", strconv.Itoa(port), "-s3.config", cfg, "-master.telemetry=false", "-webdav=false",
		"-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("weed mini: %v", err)
	}
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
		if t.Failed() {
			t.Logf("weed log (tail):\n%s", s.Log(4000))
		}
	})
	s.Client, err = minio.New(s.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Region: Region, BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.retry(t, "answer", func(ctx context.Context) error {
		_, err := s.Client.ListBuckets(ctx)
		return err
	})
	return s
}

// MakeBucket creates bucket (or finds it made), retrying within a bound
// while the store is still starting its filer.
func (s *Store) MakeBucket(t testing.TB, bucket string) {
	t.Helper()
	s.retry(t, "make bucket "+bucket, func(ctx context.Context) error {
		err := s.Client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: Region})
		if err != nil {
			if ok, e := s.Client.BucketExists(ctx, bucket); e == nil && ok {
				return nil
			}
		}
		return err
	})
}

// Log returns the last n bytes of the store's output.
func (s *Store) Log(n int) string {
	out := s.log.String()
	if len(out) > n {
		return out[len(out)-n:]
	}
	return out
}

// retry calls fn until it succeeds, the store exits or startTimeout
// passes (then t fails).
func (s *Store) retry(t testing.TB, what string, fn func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := fn(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case e := <-s.exited:
			s.exited <- e // for the cleanup
			t.Fatalf("weed mini exited: %v\n%s", e, s.Log(4000))
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("weed mini did not %s within %v: %v\n%s", what, startTimeout, err, s.Log(4000))
		}
	}
}

// freePort returns a loopback TCP port free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer is a bytes.Buffer safe for the process's two writers and
// a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
