// Package audit writes the gateway's audit log: one line per login,
// logout, file transfer and command that changes a tenant's storage
// (STOR, APPE, STOU, DELE, RMD, MKD, RNFR+RNTO as one rename, SITE
// CHMOD/CHOWN/SYMLINK/MKDIR/RMDIR, MFMT, COMB), refusals included, as
// JSON (or key=value text), and optionally the classic xferlog line per
// transfer to a second file.
//
// Events are taken from the engine's ResultHooks, which run once a
// command's final reply is written: an upload is reported after the
// driver's Close succeeded and the 226 went out (its bytes are committed),
// and a transfer that ended 426 or 451 is reported as failed. Lines are
// written by a goroutine of each log's own through a bounded queue (Sink),
// so a slow or failing disk drops events, counted and logged, and never
// delays a client.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
)

// Config is [audit] of the server file.
type Config struct {
	// File is the audit log: a path (opened for appending, created
	// 0600, reopened on SIGUSR1 and SIGHUP), "-" for standard error, or
	// "" for no audit log.
	File string `toml:"file"`
	// Xferlog is the file that gets one xferlog line per transfer (the
	// same choices as File), or "" for none.
	Xferlog string `toml:"xferlog"`
	// Format is the audit log's format: "json" (the default: one JSON
	// object a line) or "text" (key=value pairs).
	Format string `toml:"format"`
}

// On reports whether c asks for any log.
func (c Config) On() bool { return c.File != "" || c.Xferlog != "" }

// Validate checks c; the error is a conf.Errors whose keys are relative
// to the section.
func (c Config) Validate() error {
	var errs conf.Errors
	switch c.Format {
	case "", "json", "text":
	default:
		errs = append(errs, &conf.Error{Key: "format", Msg: fmt.Sprintf("%q: want json or text", c.Format)})
	}
	if c.File != "" && c.File == c.Xferlog && c.File != "-" {
		errs = append(errs, &conf.Error{Key: "xferlog", Msg: "the same file as file: give each log a file of its own"})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Logger is an open audit log (and xferlog), with the engine hooks that
// feed it (Install). Make one with New; Reopen for rotation; Close at
// shutdown.
type Logger struct {
	log    *slog.Logger
	opts   Options
	text   bool
	audit  *Sink // nil without an audit log
	xfer   *Sink // nil without an xferlog
	prefix string
	seq    atomic.Uint64
	loc    *time.Location
	now    func() time.Time
	key    *engine.SessionKey[*sessionState]
}

// New opens the logs cfg names. A Logger whose Config asks for none is
// valid and writes nothing.
func New(cfg Config, o Options) (*Logger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Logger{log: o.Logger, opts: o, text: cfg.Format == "text", loc: o.Location, now: o.Now,
		key: engine.NewSessionKey[*sessionState]("audit")}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.loc == nil {
		l.loc = time.Local
	}
	if l.now == nil {
		l.now = time.Now
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported systems
	l.prefix = hex.EncodeToString(b[:]) + "-"
	var err error
	open := func(target, name, key string) *Sink {
		if target == "" || err != nil {
			return nil
		}
		so := SinkOptions{Name: name, QueueLines: o.QueueLines, QueueBytes: o.QueueBytes, Logger: l.log}
		if target == "-" {
			w := o.Stderr
			if w == nil {
				w = os.Stderr
			}
			return NewStream(w, so)
		}
		var s *Sink
		s, err = OpenFile(target, so)
		if err != nil {
			err = fmt.Errorf("%s: %w", key, err)
		}
		return s
	}
	l.audit = open(cfg.File, "audit", "audit.file")
	l.xfer = open(cfg.Xferlog, "xferlog", "audit.xferlog")
	if err != nil {
		l.Close(context.Background())
		return nil, err
	}
	return l, nil
}

// Reopen opens the log files again by their paths, for log rotation
// (SIGUSR1, SIGHUP): events from then on go to the files now at those
// paths. It never waits for a write; a file that cannot be opened keeps
// the old one and is the error.
func (l *Logger) Reopen() error {
	var errs []error
	var files []string
	for _, s := range []*Sink{l.audit, l.xfer} {
		if s != nil && s.path != "" {
			errs = append(errs, s.Reopen())
			files = append(files, s.path)
		}
	}
	err := errors.Join(errs...)
	if len(files) > 0 && err == nil {
		l.log.Info("audit: log files reopened", "files", files)
	}
	return err
}

// Close writes what is queued until ctx ends and closes the files.
func (l *Logger) Close(ctx context.Context) {
	for _, s := range []*Sink{l.audit, l.xfer} {
		if s != nil {
			s.Close(ctx)
		}
	}
}

// Dropped returns how many lines the logs dropped (a full queue, a failed
// write) since they were opened.
func (l *Logger) Dropped() uint64 {
	var n uint64
	for _, s := range []*Sink{l.audit, l.xfer} {
		if s != nil {
			n += s.Dropped()
		}
	}
	return n
}

// nextID returns a new event id: the process's random prefix and a
// counter.
func (l *Logger) nextID() string {
	var buf [40]byte // the 13-byte prefix and 20 digits at most: one allocation, the string's
	return string(strconv.AppendUint(append(buf[:0], l.prefix...), l.seq.Add(1), 10))
}

// emit queues e on the audit log, and a transfer's xferlog line.
func (l *Logger) emit(e *Event) {
	e.ID = l.nextID()
	l.opts.Ring.Add(*e)
	// Both lines are built in a pooled scratch buffer, which the sinks
	// copy into their queues.
	sp := scratch.Get().(*[]byte)
	b := (*sp)[:0]
	if l.audit != nil {
		if l.text {
			b = e.AppendText(b)
		} else {
			b = e.AppendJSON(b)
		}
	}
	n := len(b)
	if l.xfer != nil && e.Event == "transfer" && e.Direction != "" && e.xferlog {
		b = AppendXferlog(b, e, l.loc)
	}
	if n > 0 {
		l.audit.Write(b[:n])
	}
	if len(b) > n {
		l.xfer.Write(b[n:])
	}
	if cap(b) <= maxScratch {
		*sp = b
		scratch.Put(sp)
	}
}

// scratch holds emit's line buffers; one larger than maxScratch (an
// event with many long fields) is left to the collector.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxScratch = 16 << 10

// Options are New's inputs beside the Config: where the gateway's plugins
// tell a session's identity and paths, and the queues' bounds.
type Options struct {
	// Logger receives the logs' own troubles; slog.Default() when nil.
	Logger *slog.Logger
	// Stderr is where "-" writes; os.Stderr when nil.
	Stderr io.Writer
	// Identity is a logged-in session's tenant and user (tenancy.Identity);
	// nil: no tenant, and the login name is the user.
	Identity func(cc engine.ClientContext) (tenant, user string)
	// TenantOf is a session's tenant before login ("" for none yet).
	TenantOf func(cc engine.ClientContext) string
	// Resolve names the tenant and account a login name resolves to, for
	// a failed login (tenancy.Driver.ResolveLogin); nil: TenantOf and the
	// name as typed.
	Resolve func(cc engine.ClientContext, login string) (tenant, user string)
	// TenantPath maps a session path into the tenant's storage
	// (tenancy.Driver.TenantPath); nil or an error: the session path.
	TenantPath func(cc engine.ClientContext, name string) (string, error)
	// Ruling is what the tenant's policy ruled on cc's command verb, taken
	// once (policy.TakeRuling); nil: no policy.
	Ruling func(cc engine.ClientContext, verb string) (decision, rule string, ok bool)
	// Ring, when set, keeps the most recent events in memory too (the
	// console's audit page), whether or not a file is written.
	Ring *Ring
	// QueueLines and QueueBytes bound each log's queue (0: the defaults,
	// DefaultQueueLines and DefaultQueueBytes).
	QueueLines int
	QueueBytes int64
	// Location is xferlog's time zone; time.Local when nil. Now is the
	// clock; time.Now when nil.
	Location *time.Location
	Now      func() time.Time
}
