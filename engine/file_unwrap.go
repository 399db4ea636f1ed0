package engine

import (
	"io"

	"github.com/spf13/afero"
)

// unwrapFile returns the innermost file of afero's pass-through wrappers,
// an *os.File when the driver stores files on disk, so that io.Copy can use
// sendfile and splice. Only wrappers known to add nothing to Read and Write
// are looked through: a driver's own wrapper (for quotas, say) must see the
// bytes and is used as it is.
func unwrapFile(f FileTransfer) io.ReadWriter {
	for {
		bp, ok := f.(*afero.BasePathFile)
		if !ok || bp.File == nil {
			return f
		}
		f = bp.File
	}
}
