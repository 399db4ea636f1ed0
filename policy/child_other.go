//go:build !linux

package policy

import "errors"

// childSupported reports whether Config.ChildCompile can work here.
const childSupported = false

func limitSelf(int64, uint64) error { return errors.New("child compilation needs Linux") }
