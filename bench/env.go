package bench

import (
	"fmt"
	"os"
	"strconv"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// EnvSize returns the size in the environment variable name, or def when
// it is unset. The value has conf.Size's grammar ("536870912", "64M",
// "1GiB"; K = 1024) and must be above 0.
func EnvSize(name string, def int64) (int64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	var n conf.Size
	if err := n.UnmarshalText([]byte(v)); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if n <= 0 {
		return 0, fmt.Errorf("%s: want a size above 0", name)
	}
	return int64(n), nil
}

// EnvInt returns the positive integer in the environment variable name, or
// def when it is unset.
func EnvInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: want a positive integer, got %q", name, v)
	}
	return n, nil
}
