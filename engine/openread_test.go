package engine

import (
	"bytes"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/afero"
)

// openReadFs is a driver with OpenRead: it counts the Stat calls made of
// it and the handles OpenRead returned and that are still open.
type openReadFs struct {
	afero.Fs
	stats atomic.Int32
	reads atomic.Int32
	open  atomic.Int32
}

func (o *openReadFs) Stat(name string) (os.FileInfo, error) {
	o.stats.Add(1)
	return o.Fs.Stat(name)
}

func (o *openReadFs) OpenRead(name string) (FileTransfer, os.FileInfo, error) {
	o.reads.Add(1)
	f, err := o.Fs.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	o.open.Add(1)
	return &countedFile{File: f, open: &o.open}, fi, nil
}

// countedFile takes itself off a count of open handles when closed.
type countedFile struct {
	afero.File
	open *atomic.Int32
	done atomic.Bool
}

func (c *countedFile) Close() error {
	if c.done.CompareAndSwap(false, true) {
		c.open.Add(-1)
	}
	return c.File.Close()
}

// TestRETROpensThroughOpenRead: a driver with OpenRead is asked once per
// RETR and never to Stat; what it opened is refused as a Stat was (a
// directory: 550; a REST offset past the end: 554) and closed, and a REST
// offset within the file starts there.
func TestRETROpensThroughOpenRead(t *testing.T) {
	t.Parallel()
	mem := afero.NewMemMapFs()
	payload := ptRandom(64 << 10)
	ptWriteFile(t, mem, "/f.bin", payload)
	ptMkdir(t, mem, "/dir")
	ofs := &openReadFs{Fs: mem}
	ts := newTestServer(t, withFs(ofs))
	c := ptClientDial(t, ts)

	if got := ptClientRetr(t, c, "/f.bin", 0); !bytes.Equal(got, payload) {
		t.Fatalf("RETR: %d bytes, want the %d written", len(got), len(payload))
	}
	if got := ptClientRetr(t, c, "/f.bin", 1000); !bytes.Equal(got, payload[1000:]) {
		t.Fatalf("REST 1000 + RETR: %d bytes, want %d", len(got), len(payload)-1000)
	}
	if _, err := c.Retr("/dir"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("RETR of a directory: %v, want 550", err)
	}
	if _, err := c.RetrFrom("/f.bin", uint64(len(payload)+1)); err == nil || !strings.Contains(err.Error(), "554") {
		t.Fatalf("REST past the end + RETR: %v, want 554", err)
	}
	if _, err := c.Retr("/missing.bin"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("RETR of a missing file: %v, want 550", err)
	}
	if n := ofs.reads.Load(); n != 5 {
		t.Errorf("OpenRead called %d times for 5 RETR", n)
	}
	if n := ofs.stats.Load(); n != 0 {
		t.Errorf("Stat called %d times; OpenRead tells what it opened", n)
	}
	if err := c.NoOp(); err != nil { // the refusals' replies are in
		t.Fatal(err)
	}
	if n := ofs.open.Load(); n != 0 {
		t.Errorf("%d handles OpenRead returned are still open", n)
	}
}

// TestRETRWithoutOpenReadStats: a driver without OpenRead is asked Stat
// before the open, as before.
func TestRETRWithoutOpenReadStats(t *testing.T) {
	t.Parallel()
	mem := afero.NewMemMapFs()
	ptWriteFile(t, mem, "/f.bin", []byte("bytes"))
	cnt := &statCountFs{Fs: mem}
	ts := newTestServer(t, withFs(cnt))
	c := ptClientDial(t, ts)
	if got := ptClientRetr(t, c, "/f.bin", 0); string(got) != "bytes" {
		t.Fatalf("RETR: %q", got)
	}
	if n := cnt.stats.Load(); n != 1 {
		t.Errorf("Stat called %d times for one RETR, want 1", n)
	}
}

// statCountFs counts Stat calls.
type statCountFs struct {
	afero.Fs
	stats atomic.Int32
}

func (s *statCountFs) Stat(name string) (os.FileInfo, error) {
	s.stats.Add(1)
	return s.Fs.Stat(name)
}
