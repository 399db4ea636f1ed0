package engine

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// TestSessionLoggerAttrs checks that a session's log lines carry its id
// and remote address first, as Logger.With placed them, also through With
// and WithGroup, and that levels the server's handler drops stay dropped.
func TestSessionLoggerAttrs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	s := &session{id: 7, rawConn: c1}
	log := newSessionLogger(base, s)

	log.Info("ftp: transfer complete", "verb", "RETR", "bytes", 3)
	log.With("user", "ann").Info("ftp: login")
	log.WithGroup("g").Info("grouped", "k", "v")
	log.Debug("hidden")

	want := []string{
		`level=INFO msg="ftp: transfer complete" session=7 remote=pipe verb=RETR bytes=3`,
		`level=INFO msg="ftp: login" session=7 remote=pipe user=ann`,
		`level=INFO msg=grouped session=7 remote=pipe g.k=v`,
	}
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}
