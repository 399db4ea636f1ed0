package tenancy

import (
	"io"
	"os"
	"strings"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/spf13/afero"
)

// reservedPrefix starts every name the server keeps for itself in a
// tenant's storage (its uploads' temporary files, tempPrefix). Users can
// neither make nor reach such a name in any verb (guardFs.check and
// checkAny refuse it with 553, and a link's target may not name one), and
// listings leave such entries out, so no user reads another session's
// partial upload or plants a file that the start-up cleaning would
// remove. It is compared without ASCII case, so that a case-folding
// filesystem gives no way round.
const reservedPrefix = ".ftpgate-"

// errReservedName refuses a path with a reserved element: 553, RFC 959's
// "file name not allowed".
func errReservedName(name string) error {
	return &engine.ReplyError{Code: 553, Message: name + ": file name not allowed: names beginning with " + reservedPrefix + " are reserved for the server."}
}

// isReserved reports whether one path element is a reserved name.
func isReserved(elem string) bool {
	return len(elem) >= len(reservedPrefix) && equalFoldASCII(elem[:len(reservedPrefix)], reservedPrefix)
}

// checkReserved refuses a path any element of which is reserved.
func checkReserved(name string) error {
	for rest := name; rest != ""; {
		var elem string
		elem, rest, _ = strings.Cut(rest, "/")
		if isReserved(elem) {
			return errReservedName(cleanAbs(name))
		}
	}
	return nil
}

// hideReserved wraps a directory opened for a listing so that its
// reserved entries are left out; other files are returned as they are
// (an *os.File keeps sendfile).
func hideReserved(f afero.File, err error) (afero.File, error) {
	if err != nil {
		return nil, err
	}
	fi, serr := f.Stat()
	if serr != nil || !fi.IsDir() {
		return f, nil
	}
	return &hidingDir{File: f}, nil
}

// hidingDir is a directory whose reserved entries are not listed.
type hidingDir struct {
	afero.File
}

// Readdir returns up to n entries (all for n <= 0) without reserved ones.
// A batch made only of reserved entries is not returned empty, which
// would read as the end: the next batch is read instead.
func (d *hidingDir) Readdir(n int) ([]os.FileInfo, error) {
	for {
		fis, err := d.File.Readdir(n)
		kept := fis[:0]
		for _, fi := range fis {
			if !isReserved(fi.Name()) {
				kept = append(kept, fi)
			}
		}
		if len(kept) > 0 || n <= 0 || err != nil || len(fis) == 0 {
			if n > 0 && len(kept) == 0 && err == nil {
				err = io.EOF
			}
			return kept, err
		}
	}
}

// Readdirnames is Readdir for names.
func (d *hidingDir) Readdirnames(n int) ([]string, error) {
	for {
		names, err := d.File.Readdirnames(n)
		kept := names[:0]
		for _, name := range names {
			if !isReserved(name) {
				kept = append(kept, name)
			}
		}
		if len(kept) > 0 || n <= 0 || err != nil || len(names) == 0 {
			if n > 0 && len(kept) == 0 && err == nil {
				err = io.EOF
			}
			return kept, err
		}
	}
}
