// Command ftpload runs the benchmark suite's load generator against any FTP
// server, so that ftpgate and its peers (vsftpd, Pure-FTPd) face the same
// client. It prints one result line in `go test -bench` format, which
// bench/cmd/benchtable turns into a table:
//
//	ftpload -name vsftpd -addr 127.0.0.1:2121 -user u -pass p -mode retr -size 512MiB -pid 1234
//
// Modes: retr and stor (large transfers, MB/s), small (-c clients each
// uploading and downloading 64 KiB files, files/s), sessions (connect,
// login, PWD, LIST, QUIT, sessions/s), latency (NOOP round trips) and
// idle (-c logged-in idle sessions, PSS per session). With -pid, the CPU
// time of that server process and its descendants is reported per GB, per
// file or per session; idle needs -pid. Every byte moved is checked.
package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/bench"
	"github.com/ftpgate/ftpgate/bench/loadgen"
	"github.com/ftpgate/ftpgate/engine/conf"
)

type options struct {
	name, addr, user, pass, mode, dir string
	size                              int64
	c, n                              int
	duration                          time.Duration
	settle                            time.Duration
	pid                               int
	tls, pasv                         bool
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ftpload:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	var o options
	size := conf.Size(512 << 20)
	fs := flag.NewFlagSet("ftpload", flag.ContinueOnError)
	fs.StringVar(&o.name, "name", "server", "label of the server in the result line")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:2121", "control `address`")
	fs.StringVar(&o.user, "user", "anonymous", "login name")
	fs.StringVar(&o.pass, "pass", "ftpload@", "password")
	fs.StringVar(&o.mode, "mode", "retr", "retr, stor, small, sessions, latency or idle")
	fs.StringVar(&o.dir, "dir", "/", "remote `directory` for files and LIST")
	fs.TextVar(&size, "size", size, "file `size` of retr and stor, e.g. 64M (K = 1024)")
	fs.IntVar(&o.c, "c", 32, "concurrent clients (small, sessions), or idle sessions (idle)")
	fs.IntVar(&o.n, "n", 0, "operations: transfers for retr/stor (default 3), files for small, sessions, round trips for latency (default: -duration)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "time limit of small and sessions when -n is 0")
	fs.DurationVar(&o.settle, "settle", 0, "idle: how long the sessions stay idle before the server's memory is read")
	fs.IntVar(&o.pid, "pid", 0, "server process `id`, for its CPU time (and memory, idle mode)")
	fs.BoolVar(&o.tls, "tls", false, "AUTH TLS and PROT P, certificate not verified")
	fs.BoolVar(&o.pasv, "pasv", false, "PASV instead of EPSV")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if size <= 0 {
		return errors.New("-size: want a size above 0")
	}
	o.size = int64(size)
	var err error
	cfg := loadgen.Config{Addr: o.addr, User: o.user, Pass: o.pass, PASV: o.pasv}
	if o.tls {
		cfg.TLS = &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(64)} //nolint:gosec // a benchmark of loopback servers with throwaway certificates
	}
	cpu := func() time.Duration {
		if o.pid == 0 {
			return 0
		}
		d, err := bench.TreeCPU(o.pid)
		if err != nil {
			return 0
		}
		return d
	}
	selfCPU := func() time.Duration {
		d, err := bench.TreeCPU(os.Getpid())
		if err != nil {
			return 0
		}
		return d
	}
	label := "BenchmarkPeer/" + o.mode + "/" + o.name
	switch o.mode {
	case "retr", "stor":
		return runTransfer(stdout, label, o, cfg, cpu)
	case "small", "sessions":
		w := loadgen.Workload{Workers: o.c, Ops: int64(o.n)}
		if o.n == 0 {
			w.Duration = o.duration
		}
		c0, self0 := cpu(), selfCPU()
		var res *loadgen.Result
		if o.mode == "small" {
			res, err = loadgen.SmallFiles(cfg, w, strings.TrimSuffix(o.dir, "/"), loadgen.Payload(64<<10, 5))
		} else {
			res, err = loadgen.Sessions(cfg, w, o.dir)
		}
		if err != nil {
			return err
		}
		unit := "files/s"
		if o.mode == "sessions" {
			unit = "sessions/s"
		}
		fmt.Fprintf(stdout, "%s\t%d\t%.2f %s\t%d p50-us\t%d p99-us", label, res.Ops, res.Rate(), unit,
			res.Lat.Percentile(50).Microseconds(), res.Lat.Percentile(99).Microseconds())
		if o.pid != 0 && res.Ops > 0 {
			fmt.Fprintf(stdout, "\t%.1f cpu-us/op", float64((cpu()-c0).Microseconds())/float64(res.Ops))
		}
		if s := selfCPU(); s > 0 && res.Ops > 0 {
			// The load generator's own CPU says whether it, not the
			// server, was the limit: near 1e6/files-per-second on its one
			// core, it was.
			fmt.Fprintf(stdout, "\t%.1f load-cpu-us/op", float64((s-self0).Microseconds())/float64(res.Ops))
		}
		fmt.Fprintln(stdout)
		return nil
	case "latency":
		n := o.n
		if n == 0 {
			n = 5000
		}
		c, err := loadgen.Connect(cfg)
		if err != nil {
			return err
		}
		defer c.Quit()
		lat, err := loadgen.CommandLatency(c, "NOOP", 200, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%d\t%.1f p50-us\t%.1f p99-us\n", label, n,
			float64(lat.Percentile(50).Nanoseconds())/1e3, float64(lat.Percentile(99).Nanoseconds())/1e3)
		return nil
	case "idle":
		return runIdle(stdout, label, o, cfg)
	}
	return fmt.Errorf("unknown -mode %q", o.mode)
}

// runTransfer uploads the payload once (retr) or n times (stor), timing
// the downloads or the uploads, and checks every byte.
func runTransfer(stdout io.Writer, label string, o options, cfg loadgen.Config, cpu func() time.Duration) error {
	n := o.n
	if n == 0 {
		n = 3
	}
	payload := loadgen.Payload(o.size, 11)
	want := loadgen.SumOf(payload)
	c, err := loadgen.Connect(cfg)
	if err != nil {
		return err
	}
	defer c.Quit()
	name := path.Join(o.dir, "ftpload.bin")
	var elapsed, serverCPU time.Duration
	var moved int64
	if o.mode == "retr" {
		if _, err := c.Stor(name, bytes.NewReader(payload)); err != nil {
			return err
		}
	}
	for range n {
		c0, t := cpu(), time.Now()
		if o.mode == "retr" {
			got, err := c.Retr(name)
			if err != nil {
				return err
			}
			elapsed += time.Since(t)
			serverCPU += cpu() - c0
			if err := loadgen.Verify(got, want); err != nil {
				return err
			}
		} else {
			if _, err := c.Stor(name, bytes.NewReader(payload)); err != nil {
				return err
			}
			elapsed += time.Since(t)
			serverCPU += cpu() - c0
			if err := c.RetrVerify(name, want); err != nil {
				return fmt.Errorf("stored file: %w", err)
			}
		}
		moved += o.size
	}
	_, _ = c.Cmd(0, "DELE "+name)
	mbps := float64(moved) / 1e6 / elapsed.Seconds()
	fmt.Fprintf(stdout, "%s\t%d\t%d ns/op\t%.2f MB/s", label, n, elapsed.Nanoseconds()/int64(n), mbps)
	if o.pid != 0 {
		fmt.Fprintf(stdout, "\t%.3f cpu-s/GB", serverCPU.Seconds()/(float64(moved)/1e9))
	}
	fmt.Fprintln(stdout)
	return nil
}

// runIdle logs o.c sessions in and reports the growth of the server's PSS
// (its process and descendants) per session.
func runIdle(stdout io.Writer, label string, o options, cfg loadgen.Config) error {
	if o.pid == 0 {
		return errors.New("-mode idle needs -pid")
	}
	if _, err := bench.RaiseFileLimit(); err != nil {
		return err
	}
	// Warm up: the first session makes a server's one-time allocations
	// (ftpgate's first login hashes the password with argon2id, 19 MiB),
	// which are not what an idle session holds.
	if err := loadgen.OneSession(cfg, o.dir); err != nil {
		return err
	}
	before, err := bench.TreePSS(o.pid)
	if err != nil {
		return err
	}
	clients, err := loadgen.ConnectAll(cfg, o.c)
	if err != nil {
		return err
	}
	// Idle is a steady state: ftpgate parks a session after a second
	// without a command, and its collector frees the stacks left behind
	// some time after. Every server gets the same wait.
	<-time.After(o.settle)
	after, err := bench.TreePSS(o.pid)
	for _, c := range clients {
		_ = c.Close()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\t%d\t%.0f pss-B/session\n", label, o.c, float64(after-before)/float64(o.c))
	return nil
}
