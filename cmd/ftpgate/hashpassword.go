package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ftpgate/ftpgate/tenancy"
	"golang.org/x/crypto/bcrypt"
)

// hashPassword runs `ftpgate hash-password`: it reads one password from
// the first line of stdin (so that it never shows in ps or shell history)
// and prints its hash for a tenant file.
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ftpgate hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	algo := fs.String("algo", "argon2id", "hash `algorithm`: argon2id or bcrypt")
	cost := fs.Int("bcrypt-cost", bcrypt.DefaultCost, "bcrypt `cost` (4-31)")
	p := tenancy.DefaultArgon2Params()
	mem := fs.Uint("argon2-memory", uint(p.Memory), "argon2id memory in `KiB`")
	passes := fs.Uint("argon2-time", uint(p.Time), "argon2id `passes`")
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
	var hash string
	switch *algo {
	case "argon2id":
		p.Memory, p.Time = uint32(min(*mem, 1<<32-1)), uint32(min(*passes, 1<<32-1))
		if hash, err = tenancy.HashPasswordArgon2id(pass, p); err != nil {
			fmt.Fprintf(stderr, "ftpgate hash-password: --argon2-memory (m), --argon2-time (t): %v\n", err)
			return 2
		}
	case "bcrypt":
		if len(pass) > 72 {
			fmt.Fprintln(stderr, "ftpgate hash-password: bcrypt takes at most 72 bytes of password; use argon2id")
			return 2
		}
		hash, err = tenancy.HashPasswordBcrypt(pass, *cost)
	default:
		fmt.Fprintf(stderr, "ftpgate hash-password: --algo %q: want argon2id or bcrypt\n", *algo)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate hash-password: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, hash)
	return 0
}
