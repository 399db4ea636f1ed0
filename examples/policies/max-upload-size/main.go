//go:build wasip1

// Command max-upload-size is a policy that caps every upload: 10 MiB, or
// the number of bytes in the tenant's policy config ("max_bytes=N"). An
// upload past the cap ends with 552 as it streams.
package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/ftpgate/ftpgate/policy/kit"
)

var limit int64 = 10 << 20

func init() {
	kit.Init(func(config []byte) error {
		s := strings.TrimSpace(string(config))
		if s == "" {
			return nil
		}
		v, ok := strings.CutPrefix(s, "max_bytes=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil || n < 0 {
			return errors.New("config: want max_bytes=N")
		}
		limit = n
		return nil
	})
	kit.Subscribe("STOR", "STOU", "APPE")
	kit.Handle(func(r *kit.Request) kit.Decision {
		return kit.AllowMax(limit)
	})
}

func main() {}
