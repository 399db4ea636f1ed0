package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/enginetest"
)

var telemetryLine = regexp.MustCompile(`^ftpgate: telemetry on (\S+)$`)

// TestServeDrainGraceThenShutdown: the first SIGTERM makes /readyz fail
// while the server still accepts and logs clients in (the drain grace);
// the second ends the grace, so the listeners close while a running
// transfer keeps the server up (the shutdown timeout); the third closes
// every session, and serve exits 0.
func TestServeDrainGraceThenShutdown(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "big"), make([]byte, 64<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	signals := make(chan os.Signal, 3)
	exit := make(chan int, 1)
	go func() {
		exit <- serve(context.Background(), []string{"--listen", "127.0.0.1:0", "--root", root, "--user", "u:p",
			"--telemetry-listen", "127.0.0.1:0", "--drain-grace", "1h", "--shutdown-timeout", "1h", "--log-level", "error"},
			pw, io.Discard, signals)
		_ = pw.Close()
	}()
	var addr, telemetry string
	sc := bufio.NewScanner(pr)
	for (addr == "" || telemetry == "") && sc.Scan() {
		if m := listeningAddr.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
		if m := telemetryLine.FindStringSubmatch(sc.Text()); m != nil {
			telemetry = m[1]
		}
	}
	if addr == "" || telemetry == "" {
		t.Fatalf("serve exited with %d before announcing its listeners", <-exit)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	t.Cleanup(func() {
		select {
		case signals <- syscall.SIGTERM:
		default:
		}
		select {
		case <-exit:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	readyz := func() int {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(telemetry + "/readyz")
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	enginetest.Eventually(t, "/readyz 200", func() bool { return readyz() == http.StatusOK })

	// A download the client never reads: it runs until the end.
	c := dialFTP(t, addr)
	c.expect(331, "USER u")
	c.expect(230, "PASS p")
	msg := c.expect(229, "EPSV")
	port := msg[strings.Index(msg, "|||")+3 : strings.LastIndex(msg, "|")]
	data, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	c.expect(150, "RETR big")

	signals <- syscall.SIGTERM
	enginetest.Eventually(t, "/readyz 503 after SIGTERM", func() bool { return readyz() == http.StatusServiceUnavailable })
	late := dialFTP(t, addr) // the grace: still accepted, and served
	late.expect(331, "USER u")
	late.expect(230, "PASS p")

	signals <- syscall.SIGTERM // ends the grace: the listeners close
	enginetest.Eventually(t, "the listener closed", func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
		}
		return err != nil
	})
	select {
	case code := <-exit:
		t.Fatalf("serve exited (%d) with a transfer running and an hour to finish it", code)
	default:
	}

	signals <- syscall.SIGTERM // closes every session at once
	select {
	case code := <-exit:
		exit <- code // for the cleanup
		if code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop at the third signal")
	}
}
