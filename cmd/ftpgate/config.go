package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/ftpgate/ftpgate/engine/conf"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
)

// checkConfig runs `ftpgate check-config FILE`: it loads the server file
// and every tenant file and prints every problem, one per line, as
// FILE:LINE: KEY: what is expected.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		fmt.Fprintln(stderr, "usage: ftpgate check-config FILE")
		return 2
	}
	cfg, err := gateway.Load(args[0])
	if err != nil {
		var errs conf.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(stderr, e)
			}
			fmt.Fprintf(stderr, "ftpgate check-config: %d problem(s)\n", len(errs))
		} else {
			fmt.Fprintf(stderr, "ftpgate check-config: %v\n", err)
		}
		return 1
	}
	users := 0
	for _, t := range cfg.Tenancy.Tenants {
		users += len(t.Users)
	}
	fmt.Fprintf(stdout, "%s: OK (%d tenants, %d users)\n", cfg.File, len(cfg.Tenancy.Tenants), users)
	return 0
}
