package engine

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// spliceHandle is an upload handle that counts its bytes and says whether
// its ReadFrom splices (FileTransferSplice).
type spliceHandle struct {
	*os.File
	splices bool
	calls   int
}

func (h *spliceHandle) SpliceFrom() bool { return h.splices }

func (h *spliceHandle) ReadFrom(r io.Reader) (int64, error) {
	h.calls++
	return h.File.ReadFrom(r)
}

// TestZeroCopyThroughSpliceHandle: a FileTransferSplice handle that says
// it splices is a zero-copy destination for the plain socket only, and the
// chunk copy hands the socket to its ReadFrom under one LimitedReader.
func TestZeroCopyThroughSpliceHandle(t *testing.T) {
	t.Parallel()
	client, server, file, tlsConn := zeroCopyEnds(t)
	yes := &spliceHandle{File: file, splices: true}
	no := &spliceHandle{File: file}
	for _, tc := range []struct {
		name string
		dst  io.Writer
		src  io.Reader
		want bool
	}{
		{"TCP to a splicing handle", yes, server, true},
		{"limited TCP to a splicing handle", yes, io.LimitReader(server, 1<<20), true},
		{"TCP to a handle that does not splice", no, server, false},
		{"TLS to a splicing handle", yes, tlsConn, false},
		{"a buffer to a splicing handle", yes, &bytes.Buffer{}, false},
	} {
		if got := zeroCopyPossible(tc.dst, tc.src); got != tc.want {
			t.Errorf("%s: zeroCopyPossible = %v, want %v", tc.name, got, tc.want)
		}
	}

	data := pattern(100_000)
	go func() {
		_, _ = client.Write(data)
		_ = client.CloseWrite()
	}()
	n, err := copyChunk(yes, server, 60_000, nil)
	if n != 60_000 || err != nil {
		t.Fatalf("first chunk: %d %v, want 60000 nil", n, err)
	}
	n, err = copyChunk(yes, server, 60_000, nil)
	if n != 40_000 || err != io.EOF {
		t.Fatalf("second chunk: %d %v, want 40000 EOF", n, err)
	}
	if yes.calls != 2 {
		t.Fatalf("ReadFrom called %d times, want once per chunk", yes.calls)
	}
	got, err := os.ReadFile(file.Name())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the file holds %d bytes (%v), want the 100000 sent", len(got), err)
	}
}
