package engine

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
)

// sessionLogHandler adds a session's "session" and "remote" attributes to
// each record it passes to the server's handler. It stands in for
// Logger.With, which would copy the handler and pre-format the attributes
// at connect time: a few hundred bytes kept by every idle session for log
// lines that mostly never come. Here the attributes are made when a record
// is logged, and come first, as With would place them.
type sessionLogHandler struct {
	h slog.Handler
	s *session
}

// newSessionLogger returns the logger of session s.
func newSessionLogger(base *slog.Logger, s *session) *slog.Logger {
	return slog.New(&sessionLogHandler{h: base.Handler(), s: s})
}

func (h *sessionLogHandler) attrs() []slog.Attr {
	return []slog.Attr{h.sessionAttr(), h.remoteAttr()}
}

func (h *sessionLogHandler) sessionAttr() slog.Attr {
	return slog.Uint64("session", uint64(h.s.id))
}

// remoteAttr is the client's address as net.TCPAddr.String writes it
// ("192.0.2.1:21", "[2001:db8::1]:21"), built through netip, which
// allocates once where TCPAddr.String allocates three times: every log
// line of a session makes it anew (sessionLogHandler).
func (h *sessionLogHandler) remoteAttr() slog.Attr {
	remote := ""
	switch a := h.s.rawConn.RemoteAddr().(type) {
	case *net.TCPAddr:
		if a == nil {
			remote = a.String()
			break
		}
		ap := a.AddrPort()
		remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	case nil:
	default:
		remote = a.String()
	}
	return slog.String("remote", remote)
}

// Enabled asks the server's handler.
func (h *sessionLogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.h.Enabled(ctx, level)
}

// Handle passes r on with the session's attributes before its own.
func (h *sessionLogHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(h.sessionAttr(), h.remoteAttr())
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.h.Handle(ctx, out)
}

// WithAttrs returns the server's handler with the session's attributes
// and then attrs, as Logger.With on the former logger did.
func (h *sessionLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.h.WithAttrs(append(h.attrs(), attrs...))
}

// WithGroup returns the server's handler with the session's attributes,
// then the group.
func (h *sessionLogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.h.WithAttrs(h.attrs()).WithGroup(name)
}
