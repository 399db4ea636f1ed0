package telemetry

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/engine/conf"
)

// The listener's bounds: connections served at once (the quiet ones are
// shed first when full, admin.LimitListener), header bytes and times.
// Scrapes are small and few; these leave room for a balancer's health
// checks and a few Prometheus servers.
const (
	// MaxConns is the connections served at once.
	MaxConns          = 32
	maxHeaderBytes    = 8 << 10
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	// maxScrapes is the /metrics requests gathered at once; more wait
	// (promhttp's MaxRequestsInFlight answers 503).
	maxScrapes = 4
	// scrapeTimeout bounds one gathering.
	scrapeTimeout = 20 * time.Second
)

// Options are Start's inputs that are not configuration.
type Options struct {
	// Logger receives the listener's errors; slog.Default() when nil.
	Logger *slog.Logger
	// Ready says whether the server should get traffic (/readyz): nil
	// when it should, else the reason it should not. Nil Ready: always.
	Ready func() error
	// Metrics is what /metrics serves; nil serves 404.
	Metrics *Metrics
}

// Server is a running telemetry listener. Start makes one.
type Server struct {
	hs     *http.Server
	url    string
	served chan struct{}
}

// Start binds cfg.Listen and serves /livez, /readyz and /metrics on it in
// the background until Shutdown. cfg must have passed Validate.
func Start(cfg Config, opts Options) (*Server, error) {
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	h := &handler{ready: opts.Ready}
	if cfg.TokenFile != "" {
		tok, err := ReadToken(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("telemetry.token_file: %w", err)
		}
		d := sha256.Sum256([]byte(tok))
		h.token = d[:]
	}
	if opts.Metrics != nil {
		h.metrics = promhttp.HandlerFor(opts.Metrics.Registry(), promhttp.HandlerOpts{
			ErrorHandling:       promhttp.ContinueOnError,
			MaxRequestsInFlight: maxScrapes,
			Timeout:             scrapeTimeout,
		})
	}
	var tlsConfig *tls.Config
	scheme := "http"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("telemetry.tls_cert, telemetry.tls_key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("telemetry.listen: %w", err)
	}
	if tlsConfig == nil && errors.Is(checkListen(cfg.Listen, false), errInClear) {
		lg.Warn("the telemetry listener is not on loopback and has no TLS: its token crosses the network in clear text (set telemetry.tls_cert and tls_key)", "listen", cfg.Listen)
	}
	// HTTP/1.1 only: one request at a time per connection, so that
	// MaxConns also bounds the requests in flight.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	s := &Server{
		hs: &http.Server{
			Handler: h,
			// "OPTIONS *" goes to h too, which refuses it (405) and its
			// body unread: net/http's own answer reads up to 4 KiB of body
			// first, for up to readTimeout, holding the slot.
			DisableGeneralOptionsHandler: true,
			Protocols:                    &protocols,
			TLSConfig:                    tlsConfig,
			ReadHeaderTimeout:            readHeaderTimeout,
			ReadTimeout:                  readTimeout,
			WriteTimeout:                 writeTimeout,
			IdleTimeout:                  idleTimeout,
			MaxHeaderBytes:               maxHeaderBytes,
			ConnState:                    admin.TrackConn,
			ErrorLog:                     admin.ErrorLog(lg),
		},
		url:    scheme + "://" + ln.Addr().String(),
		served: make(chan struct{}),
	}
	limited := admin.LimitListener(ln, MaxConns)
	go func() {
		defer close(s.served)
		var err error
		if tlsConfig != nil {
			err = s.hs.ServeTLS(limited, "", "")
		} else {
			err = s.hs.Serve(limited)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			lg.Error("telemetry listener stopped", "err", err)
		}
	}()
	return s, nil
}

// URL is the listener's base URL: scheme, host and port.
func (s *Server) URL() string { return s.url }

// Shutdown stops the listener, letting requests in flight end until ctx
// ends, then closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.hs.Shutdown(ctx)
	if err != nil {
		_ = s.hs.Close()
	}
	<-s.served
	return err
}

// handler serves the three paths; anything else is 404, any method but
// GET and HEAD 405, a GET or HEAD with a body 413 (the connection closed).
type handler struct {
	ready   func() error
	token   []byte // SHA-256 of the /metrics token; nil: none asked
	metrics http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	// No path takes a body: a request with one is refused with its
	// connection closed and the body left unread. net/http would
	// otherwise wait up to readTimeout for a body announced and never
	// sent, the connection past its headers and so never shed, and
	// MaxConns such requests would keep every health check out.
	body := r.ContentLength != 0
	if body {
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if body {
		plain(w, http.StatusRequestEntityTooLarge, "no request body allowed")
		return
	}
	switch r.URL.Path {
	case "/livez":
		plain(w, http.StatusOK, "ok")
	case "/readyz":
		if h.ready != nil {
			if err := h.ready(); err != nil {
				plain(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
		}
		plain(w, http.StatusOK, "ready")
	case "/metrics":
		if h.metrics == nil {
			plain(w, http.StatusNotFound, "not found")
			return
		}
		if h.token != nil {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || !conf.TokenMatches(h.token, tok) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="ftpgate telemetry"`)
				w.Header().Set("Connection", "close")
				plain(w, http.StatusUnauthorized, "unauthorized")
				return
			}
		}
		h.metrics.ServeHTTP(w, r)
	default:
		plain(w, http.StatusNotFound, "not found")
	}
}

// plain writes a one-line plain-text reply.
func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}
