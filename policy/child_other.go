//go:build !linux

package policy

import (
	"errors"
	"os"
)

// selfExecutable is this process's executable.
func selfExecutable() (string, error) { return os.Executable() }

// childSupported reports whether Config.ChildCompile can work here.
const childSupported = false

func limitSelf(int64, uint64) error { return errors.New("child compilation needs Linux") }
