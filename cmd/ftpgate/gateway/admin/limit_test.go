package admin

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestLimitListener: a closed connection gives its slot back (twice
// closed, once given), and Close ends an Accept waiting for a slot.
func TestLimitListener(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 1)
	defer ln.Close()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	c1, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		c   net.Conn
		err error
	}
	next := make(chan result, 1)
	go func() { c, err := ln.Accept(); next <- result{c, err} }()
	_ = c1.Close()
	_ = c1.Close() // a second Close must not free a second slot
	var r result
	select {
	case r = <-next:
	case <-time.After(30 * time.Second):
		t.Fatal("the slot of a closed connection was not given back")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if n := len(ln.slots); n != 1 {
		t.Fatalf("slots held: %d, want 1", n)
	}
	go func() { c, err := ln.Accept(); next <- result{c, err} }()
	_ = ln.Close()
	select {
	case r = <-next:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not end a waiting Accept")
	}
	if !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v %v", r.c, r.err)
	}
}
