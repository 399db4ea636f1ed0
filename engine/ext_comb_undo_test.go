package engine

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/afero"
)

// combUndoFixture serves a directory on disk whose /part blocks its
// reads until the test releases it, then fails them: session A's COMB
// stays in its copy while session B works.
func combUndoFixture(t *testing.T) (*testServer, string, *fault) {
	t.Helper()
	dir := t.TempDir()
	ffs := &faultFs{Fs: afero.NewBasePathFs(afero.NewOsFs(), dir), faults: make(map[string]*fault)}
	if err := os.WriteFile(filepath.Join(dir, "part"), extContent(10_000), 0o644); err != nil {
		t.Fatal(err)
	}
	flt := &fault{gate: make(chan struct{}), readErr: errors.New("disk failed"), readAfter: 0}
	ffs.inject("/part", flt)
	ts := newTestServer(t, withFs(ffs), withCOMB())
	return ts, dir, flt
}

// TestExtCOMBFailureKeepsAnotherSessionsNewFile: A's COMB creates its
// target and stalls; B stores a file under that name (STOR to another
// name, then RNFR/RNTO, so the name leads to B's file); A's COMB fails:
// B's 226-acknowledged file stays as B stored it.
func TestExtCOMBFailureKeepsAnotherSessionsNewFile(t *testing.T) {
	ts, dir, flt := combUndoFixture(t)
	a := ts.login(t)
	a.send("COMB target part")
	<-flt.blocked
	b := ptClientDial(t, ts)
	want := []byte("B's acknowledged file")
	if err := b.Stor("tmp", bytes.NewReader(want)); err != nil {
		t.Fatalf("B's STOR: %v", err)
	}
	if err := b.Rename("tmp", "target"); err != nil {
		t.Fatalf("B's rename: %v", err)
	}
	close(flt.gate)
	if code, msg := a.read(); code < 400 {
		t.Fatalf("A's COMB: %d %s, want a failure", code, msg)
	}
	got, err := os.ReadFile(filepath.Join(dir, "target"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("target after A's failed COMB: %q, %v; want %q", got, err, want)
	}
}

// TestExtCOMBFailureKeepsAnotherSessionsAppend: A's COMB onto an
// existing file stalls; B appends to that file (226); A's COMB fails:
// B's appended bytes stay.
func TestExtCOMBFailureKeepsAnotherSessionsAppend(t *testing.T) {
	ts, dir, flt := combUndoFixture(t)
	if err := os.WriteFile(filepath.Join(dir, "target"), []byte("head-"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := ts.login(t)
	a.send("COMB target part")
	<-flt.blocked
	b := ptClientDial(t, ts)
	if err := b.Append("target", bytes.NewReader([]byte("B-appended"))); err != nil {
		t.Fatalf("B's APPE: %v", err)
	}
	close(flt.gate)
	if code, msg := a.read(); code < 400 {
		t.Fatalf("A's COMB: %d %s, want a failure", code, msg)
	}
	got, err := os.ReadFile(filepath.Join(dir, "target"))
	if err != nil || string(got) != "head-B-appended" {
		t.Fatalf("target after A's failed COMB: %q, %v; want %q", got, err, "head-B-appended")
	}
}
