package tenancy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/afero"
)

// removingFs removes each new file right after creating it, as a usage
// walk that took it for an orphan between its create and its lock would.
type removingFs struct {
	afero.Fs
	left    int
	removed []string
}

func (r *removingFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := r.Fs.OpenFile(name, flag, perm)
	if err == nil && flag&os.O_EXCL != 0 && r.left > 0 {
		r.left--
		if err := r.Fs.Remove(name); err != nil {
			_ = f.Close()
			return nil, err
		}
		r.removed = append(r.removed, name)
	}
	return f, err
}

// TestCreateTempNoticesRemoval: a temporary file removed before its lock
// was taken is given up for another name, so the upload writes to a file
// that its rename can put into place; without the check it would write to
// a file with no name and fail at the end.
func TestCreateTempNoticesRemoval(t *testing.T) {
	dir := t.TempDir()
	// An OsFs, whose files are *os.File as rootFs's are (the lock and
	// the check need one).
	fsys := &removingFs{Fs: afero.NewOsFs(), left: 1}
	f, tmp, err := createTemp(fsys, filepath.Join(dir, "target.bin"), os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("createTemp: %v", err)
	}
	defer f.Close()
	if len(fsys.removed) != 1 || fsys.removed[0] == tmp {
		t.Fatalf("createTemp kept the removed file %q (removed: %v)", tmp, fsys.removed)
	}
	if _, err := f.Write([]byte("payload")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(tmp)
	if err != nil || string(got) != "payload" {
		t.Fatalf("the temporary file %s holds %q, %v; want the bytes written", tmp, got, err)
	}
}

// TestCreateTempGivesUpAfterAttempts: a walk that removes every new file
// makes createTemp fail after tempAttempts names, not loop.
func TestCreateTempGivesUpAfterAttempts(t *testing.T) {
	fsys := &removingFs{Fs: afero.NewOsFs(), left: tempAttempts}
	f, _, err := createTemp(fsys, filepath.Join(t.TempDir(), "target.bin"), os.O_WRONLY, 0o644)
	if err == nil {
		_ = f.Close()
		t.Fatal("createTemp succeeded with every file removed")
	}
	if !errors.Is(err, fs.ErrExist) || len(fsys.removed) != tempAttempts {
		t.Fatalf("err %v after %d removals; want ErrExist after %d", err, len(fsys.removed), tempAttempts)
	}
}
