package proxyproto

import (
	"net"

	"github.com/ftpgate/ftpgate/engine"
)

// Install makes srv read PROXY headers on its passive data listeners,
// through Server.PassiveListenerWrapper, innermost (before a wrapper
// already there), so that no driver wrapper is needed. The control and
// implicit-TLS listeners are the caller's to wrap (Wrap), as they are
// made before the Server serves. With the mode Off it changes nothing.
func (w *Wrapper) Install(srv *engine.Server) {
	if !w.Enabled() {
		return
	}
	prev := srv.PassiveListenerWrapper
	if prev == nil {
		srv.PassiveListenerWrapper = w.WrapPassiveListener
		return
	}
	srv.PassiveListenerWrapper = func(ln net.Listener) (net.Listener, error) {
		inner, err := w.WrapPassiveListener(ln)
		if err != nil {
			return nil, err
		}
		return prev(inner)
	}
}
