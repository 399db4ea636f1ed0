package engine_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/spf13/afero"
)

// memDriver is a minimal MainDriver: one user over an in-memory filesystem.
type memDriver struct {
	fs afero.Fs
}

func (d *memDriver) GetSettings() (*engine.Settings, error) {
	return &engine.Settings{ListenAddr: "127.0.0.1:0"}, nil
}

func (d *memDriver) ClientConnected(engine.ClientContext) (string, error) {
	return "Welcome to the example server.", nil
}

func (d *memDriver) ClientDisconnected(engine.ClientContext) {}

func (d *memDriver) AuthUser(_ engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	if user == "demo" && pass == "demo" {
		return d.fs, nil
	}
	return nil, errors.New("bad credentials")
}

func (d *memDriver) GetTLSConfig() (*tls.Config, error) { return nil, nil }

// exampleClient is just enough of an FTP client for the examples.
type exampleClient struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialExample(addr string) (*exampleClient, string, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	c := &exampleClient{conn: conn, r: bufio.NewReader(conn)}
	banner, err := c.reply()
	return c, banner, err
}

// cmd sends a command and returns the reply line.
func (c *exampleClient) cmd(line string) string {
	fmt.Fprintf(c.conn, "%s\r\n", line)
	reply, _ := c.reply()
	return reply
}

func (c *exampleClient) reply() (string, error) {
	line, err := c.r.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// stor uploads content through EPSV.
func (c *exampleClient) stor(name, content string) string {
	var port int
	if _, err := fmt.Sscanf(c.cmd("EPSV"), "229 Entering Extended Passive Mode (|||%d|).", &port); err != nil {
		return err.Error()
	}
	host, _, _ := net.SplitHostPort(c.conn.RemoteAddr().String())
	data, err := net.Dial("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return err.Error()
	}
	c.cmd("STOR " + name) // 150
	_, _ = io.WriteString(data, content)
	_ = data.Close()
	reply, _ := c.reply()
	return reply
}

// startExample listens on 127.0.0.1 and serves in the background.
func startExample(srv *engine.Server) (addr string, stop func()) {
	srv.Logger = slog.New(slog.DiscardHandler)
	if err := srv.Listen(); err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	return srv.Addr().String(), func() {
		_ = srv.Shutdown(context.Background())
		<-served
	}
}

func ExampleServer() {
	srv := &engine.Server{
		Driver: &memDriver{fs: afero.NewMemMapFs()},
		Logger: slog.New(slog.DiscardHandler),
	}
	if err := srv.Listen(); err != nil { // binds Settings.ListenAddr
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()

	c, banner, err := dialExample(srv.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(banner)
	fmt.Println(c.cmd("USER demo"))
	fmt.Println(c.cmd("PASS demo"))

	// Shutdown ends idle sessions with 421 and waits for running transfers.
	if err := srv.Shutdown(context.Background()); err != nil {
		fmt.Println(err)
	}
	last, _ := c.reply()
	fmt.Println(last)
	fmt.Println(errors.Is(<-served, engine.ErrServerClosed))
	// Output:
	// 220 Welcome to the example server.
	// 331 User name okay, need password.
	// 230 User demo logged in.
	// 421 Server is shutting down.
	// true
}

func ExampleCommandHook() {
	fs := afero.NewMemMapFs()
	_ = afero.WriteFile(fs, "/keep.txt", []byte("precious"), 0o644)
	noDelete := func(_ context.Context, cmd *engine.Command) error {
		if cmd.Verb == "DELE" {
			return engine.Refuse(550, "Deleting "+cmd.Paths[0]+" is not allowed here.")
		}
		return nil
	}
	srv := &engine.Server{
		Driver:       &memDriver{fs: fs},
		CommandHooks: []engine.CommandHook{noDelete},
	}
	addr, stop := startExample(srv)
	defer stop()

	c, _, err := dialExample(addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.cmd("USER demo")
	c.cmd("PASS demo")
	fmt.Println(c.cmd("DELE keep.txt"))
	exists, _ := afero.Exists(fs, "/keep.txt")
	fmt.Println("still there:", exists)
	// Output:
	// 550 Deleting /keep.txt is not allowed here.
	// still there: true
}

func ExampleTransferHook() {
	var uploaded atomic.Int64
	// meter counts the bytes of every upload. It passes io.LimitReader to
	// next rather than wrapping src, which keeps the zero-copy paths.
	meter := func(t *engine.Transfer, next engine.CopyFunc) engine.CopyFunc {
		return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
			n, err := next(ctx, dst, io.LimitReader(src, 1<<62))
			if t.Direction == engine.Upload {
				uploaded.Add(n)
			}
			return n, err
		}
	}
	srv := &engine.Server{
		Driver:        &memDriver{fs: afero.NewMemMapFs()},
		TransferHooks: []engine.TransferHook{meter},
	}
	addr, stop := startExample(srv)
	defer stop()

	c, _, err := dialExample(addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.cmd("USER demo")
	c.cmd("PASS demo")
	fmt.Println(c.stor("a.txt", "hello, world\n"))
	fmt.Println(c.stor("b.txt", "bye\n"))
	fmt.Println("bytes uploaded:", uploaded.Load())
	// Output:
	// 226 Transfer complete.
	// 226 Transfer complete.
	// bytes uploaded: 17
}
