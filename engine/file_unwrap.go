package engine

import (
	"io"

	"github.com/spf13/afero"
)

// unwrapFile returns the innermost file of afero's pass-through wrappers
// and of handles that declare themselves pass-through (FileTransferDirect),
// an *os.File when the driver stores files on disk, so that io.Copy can use
// sendfile and splice. Only wrappers known to add nothing to Read and Write
// are looked through: a driver's own wrapper (for quotas, say) must see the
// bytes and is used as it is. The depth is bounded, so a wrapper that
// returns itself cannot hold the transfer.
func unwrapFile(f FileTransfer) io.ReadWriter {
	for range maxFileUnwrap {
		switch w := f.(type) {
		case *afero.BasePathFile:
			if w.File == nil {
				return f
			}
			f = w.File
		case FileTransferDirect:
			inner := w.DirectFile()
			if inner == nil {
				return f
			}
			f = inner
		default:
			return f
		}
	}
	return f
}

// maxFileUnwrap bounds unwrapFile's look through wrappers.
const maxFileUnwrap = 8
