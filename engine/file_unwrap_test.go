package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/afero"
)

// directWrapper acts on Close only, as a driver's upload handle that
// renames a temporary file into place does.
type directWrapper struct {
	afero.File
	closed bool
}

func (d *directWrapper) DirectFile() afero.File { return d.File }
func (d *directWrapper) Close() error           { d.closed = true; return d.File.Close() }

// selfDirectFile claims to wrap itself.
type selfDirectFile struct{ afero.File }

func (s *selfDirectFile) DirectFile() afero.File { return s }

// TestUnwrapFileDirect: a FileTransferDirect handle is looked through to
// its *os.File (so uploads keep splice) and the engine still closes the
// handle itself; a wrapper that returns itself ends the search.
func TestUnwrapFileDirect(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	w := &directWrapper{File: f}
	if _, ok := unwrapFile(w).(*os.File); !ok {
		t.Fatalf("unwrapFile(directWrapper) = %T, want *os.File", unwrapFile(w))
	}
	nested := &directWrapper{File: &afero.BasePathFile{File: w}}
	if _, ok := unwrapFile(nested).(*os.File); !ok {
		t.Fatalf("unwrapFile through two wrappers = %T, want *os.File", unwrapFile(nested))
	}
	job := &transferJob{file: w}
	if err := job.finish(nil); err != nil || !w.closed {
		t.Fatalf("finish: %v, handle closed: %v", err, w.closed)
	}
	s := &selfDirectFile{}
	if got := unwrapFile(s); got != FileTransfer(s) {
		t.Fatalf("unwrapFile(selfDirectFile) = %T", got)
	}
	if got := unwrapFile(&directWrapper{}); got == nil {
		t.Fatal("a wrapper without a file must be returned as it is")
	}
}
