package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ftpgate/ftpgate/tenancy"
)

// hashPassword runs `ftpgate hash-password`: it reads one password from
// the first line of stdin (so that it never shows in ps or shell history)
// and prints its hash for a tenant file.
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ftpgate hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	h := tenancy.NewHashFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ftpgate hash-password: unexpected argument %q (the password is read from stdin)\n", fs.Arg(0))
		return 2
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "ftpgate hash-password: reading stdin: %v\n", err)
		return 1
	}
	pass := strings.TrimRight(line, "\r\n")
	if pass == "" {
		fmt.Fprintln(stderr, "ftpgate hash-password: give the password on stdin, e.g. `echo 'secret' | ftpgate hash-password`")
		return 2
	}
	if err := h.Check(pass); err != nil {
		fmt.Fprintf(stderr, "ftpgate hash-password: %v\n", err)
		return 2
	}
	hash, err := h.Hash(pass)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate hash-password: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, hash)
	return 0
}
