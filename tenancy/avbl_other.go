//go:build !unix

package tenancy

import (
	"errors"
	"os"
)

// FreeSpace is not available on this system: AVBL without a quota then
// answers 550.
func FreeSpace(*os.File) (int64, error) {
	return 0, errors.ErrUnsupported
}
