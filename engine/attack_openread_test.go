package engine

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// TestAttackOpenReadHandleClosedOnEveryEnd: a handle OpenRead gave RETR
// is closed however the transfer ends without the bytes: the active data
// connection cannot be opened (425), the passive one is never dialled
// (the data connection timeout: 425), ABOR in the middle (426, 226), and
// the client dropping the control connection in the middle. A client
// doing each again and again leaves no handle open.
func TestAttackOpenReadHandleClosedOnEveryEnd(t *testing.T) {
	t.Parallel()
	mem := afero.NewMemMapFs()
	ptWriteFile(t, mem, "/big.bin", ptRandom(8<<20))
	ofs := &openReadFs{Fs: mem}
	ts := newTestServer(t, withFs(ofs), withSettings(func(s *Settings) { s.ConnectionTimeout = 1 }))
	noneOpen := func(what string) {
		t.Helper()
		// Polled, boundedly: the transfer's goroutine may close the
		// handle after the client read its reply.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		deadline := time.NewTimer(10 * time.Second)
		defer deadline.Stop()
		for ofs.open.Load() != 0 {
			select {
			case <-tick.C:
			case <-deadline.C:
				t.Fatalf("%s: %d handles OpenRead returned are still open", what, ofs.open.Load())
			}
		}
	}
	c := ts.login(t)
	c.expect("TYPE I", 200)
	for i := range 3 {
		// An active address nobody listens on.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		c.expect(fmt.Sprintf("EPRT |1|127.0.0.1|%d|", port), 200)
		code, text := c.cmd("RETR /big.bin")
		if code == 150 {
			code, text = c.read()
		}
		if code != 425 {
			t.Fatalf("round %d: RETR to a closed active port: %d %s; want 425", i, code, text)
		}
		noneOpen("after 425 (active)")

		// A passive connection never dialled.
		c.expect("EPSV", 229)
		code, text = c.cmd("RETR /big.bin")
		if code == 150 {
			code, text = c.read()
		}
		if code != 425 {
			t.Fatalf("round %d: RETR, passive never dialled: %d %s; want 425", i, code, text)
		}
		noneOpen("after 425 (passive)")

		// ABOR in the middle.
		data := c.epsv()
		c.expect("RETR /big.bin", 150)
		if _, err := io.ReadFull(data, make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
		code, _ = c.cmd("ABOR")
		abor, _ := c.read()
		if code != 426 || abor != 226 {
			t.Fatalf("round %d: ABOR: %d then %d; want 426 then 226", i, code, abor)
		}
		_ = data.Close()
		noneOpen("after ABOR")
	}
	// The client drops the control connection in the middle.
	for range 3 {
		d := ts.login(t)
		d.expect("TYPE I", 200)
		data := d.epsv()
		d.expect("RETR /big.bin", 150)
		if _, err := io.ReadFull(data, make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
		_ = d.conn.Close()
		_ = data.Close()
		noneOpen("after the client left")
	}
	c.expect("NOOP", 200)
}
