package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitForFile waits until the file at path holds part, failing when the
// server is gone or itTimeout passes. The file is written by another
// process, so a bounded poll is the only way to wait.
func waitForFile(t *testing.T, s *itServer, path, part string) string {
	t.Helper()
	deadline := time.Now().Add(itTimeout)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), part) {
			return string(b)
		}
		if err := s.proc.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("ftpgate is gone (%v); log:\n%s", err, s.stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %q; it holds:\n%s", path, part, b)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// TestIntegrationAuditReopenOnSIGUSR1: as logrotate does, the audit log
// is renamed and the server sent SIGUSR1: the next events go to a new
// file at the path (0600), the renamed one keeps the earlier ones, and
// the server goes on serving.
func TestIntegrationAuditReopenOnSIGUSR1(t *testing.T) {
	curl := requireTool(t, "curl")
	logFile := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "127.0.0.1", "--audit-file", logFile)
	src := filepath.Join(t.TempDir(), "src.bin")
	writeFile(t, src, 10<<10, "audit")
	auth := itUser + ":" + itPassword

	runClient(t, curl, "-sS", "-u", auth, "-T", src, s.url("ftp", "a.bin"))
	waitForFile(t, s, logFile, `"event":"logout"`)
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.proc.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitForLogAlive(t, s, "audit: log files reopened", 1)
	runClient(t, curl, "-sS", "-u", auth, "-T", src, s.url("ftp", "b.bin"))
	cur := waitForFile(t, s, logFile, `"event":"logout"`)
	old, err := os.ReadFile(logFile + ".1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(old), `"path":"/a.bin"`) || strings.Contains(string(old), "b.bin") {
		t.Fatalf("the renamed log:\n%s", old)
	}
	if !strings.Contains(cur, `"verb":"STOR","path":"/b.bin","direction":"upload","bytes":10240`) || strings.Contains(cur, "a.bin") {
		t.Fatalf("the new log:\n%s", cur)
	}
	if fi, err := os.Stat(logFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the new log's mode: %v, %v", fi.Mode(), err)
	}
}
