package sessions

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/ratelimit"
)

// maxEndBody bounds the body of a DELETE of a session: {"reason": ...}
// with room for escapes; a larger one is refused with 413.
const maxEndBody = 4 << 10

// maxQueryBody bounds the body of the other routes, which read none.
const maxQueryBody = 1 << 10

// Routes returns the admin endpoints of the package comment over reg,
// and the ban endpoints over lim when it is not nil. log records every
// session ended and ban lifted.
func Routes(reg Registry, lim *ratelimit.Limiter, log *slog.Logger) []admin.Route {
	if log == nil {
		log = slog.Default()
	}
	h := &handler{reg: reg, lim: lim, log: log}
	routes := []admin.Route{
		{Pattern: "GET /v1/sessions", Scope: admin.ScopeOperator, MaxBody: maxQueryBody, Handler: http.HandlerFunc(h.list)},
		{Pattern: "GET /v1/tenants/{tenant}/sessions", Scope: admin.ScopeTenant, MaxBody: maxQueryBody, Handler: http.HandlerFunc(h.list)},
		{Pattern: "DELETE /v1/sessions/{id}", Scope: admin.ScopeOperator, MaxBody: maxEndBody, Handler: http.HandlerFunc(h.end)},
		{Pattern: "DELETE /v1/tenants/{tenant}/sessions/{id}", Scope: admin.ScopeTenant, MaxBody: maxEndBody, Handler: http.HandlerFunc(h.end)},
	}
	if lim != nil {
		routes = append(routes,
			admin.Route{Pattern: "GET /v1/bans", Scope: admin.ScopeOperator, MaxBody: maxQueryBody, Handler: http.HandlerFunc(h.bans)},
			admin.Route{Pattern: "DELETE /v1/bans/{ban...}", Scope: admin.ScopeOperator, MaxBody: maxQueryBody, Handler: http.HandlerFunc(h.lift)},
		)
	}
	return routes
}

type handler struct {
	reg Registry
	lim *ratelimit.Limiter
	log *slog.Logger
}

// ListReply is the body of a session list.
type ListReply struct {
	Sessions []Session `json:"sessions"`
	// Next, when set, is the ?after= of the next page.
	Next string `json:"next,omitempty"`
	// Partial and Missing (a cluster's registry only): some instances did
	// not answer in time; Missing names those known.
	Partial bool     `json:"partial,omitempty"`
	Missing []string `json:"missing,omitempty"`
}

// EndRequest is the optional body of a DELETE of a session.
type EndRequest struct {
	// Reason is the text of the 421 the client reads (CleanReason).
	Reason string `json:"reason"`
}

// EndReply is the body of a session ended.
type EndReply struct {
	Ended  string `json:"ended"`  // the session id
	Reason string `json:"reason"` // what the client was sent after "421 "
}

// BansReply is the body of GET /v1/bans.
type BansReply struct {
	Bans []BanView `json:"bans"`
	// Total is the number of bans in force; more than len(Bans) when the
	// limit cut the list.
	Total int `json:"total"`
}

// BanView is one ban in force.
type BanView struct {
	Prefix   string    `json:"prefix"`
	Until    time.Time `json:"until"`
	Offences int       `json:"offences"`
}

// LiftReply is the body of a DELETE of bans.
type LiftReply struct {
	Lifted int `json:"lifted"`
}

// pageLimit reads ?limit=: DefaultPage when absent, at most MaxPage.
func pageLimit(r *http.Request) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return DefaultPage, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, false
	}
	return min(n, MaxPage), true
}

// list serves both session lists: the tenant's ({tenant} in the path)
// or every one.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	limit, ok := pageLimit(r)
	if !ok {
		admin.WriteError(w, http.StatusBadRequest, "bad_limit", "limit: want a whole number from 1 (at most "+strconv.Itoa(MaxPage)+" are returned)")
		return
	}
	after := r.URL.Query().Get("after")
	if after != "" && !validID(after) {
		admin.WriteError(w, http.StatusBadRequest, "bad_cursor", "after: not a session id")
		return
	}
	q := Query{Tenant: r.PathValue("tenant"), After: after, Limit: limit}
	var page []Session
	var next string
	var cov Coverage
	var err error
	if cl, ok := h.reg.(ClusterLister); ok {
		page, next, cov, err = cl.ListCluster(r.Context(), q)
	} else {
		page, next, err = h.reg.List(r.Context(), q)
	}
	switch {
	case errors.Is(err, ErrBadCursor):
		admin.WriteError(w, http.StatusBadRequest, "bad_cursor", "after: not a session id")
		return
	case err != nil:
		h.log.Warn("admin: listing sessions", "err", err)
		admin.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the sessions cannot be listed now")
		return
	}
	admin.WriteJSON(w, http.StatusOK, ListReply{Sessions: page, Next: next, Partial: cov.Partial, Missing: cov.Missing})
}

// end serves both DELETEs of a session. A session of another tenant
// gets the reply of one that does not exist.
func (h *handler) end(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		admin.WriteError(w, http.StatusBadRequest, "bad_session_id", "not a session id")
		return
	}
	var req EndRequest
	if status, code, msg := decodeOptional(r.Body, &req); status != 0 {
		admin.WriteError(w, status, code, msg)
		return
	}
	reason := CleanReason(req.Reason)
	tenant := r.PathValue("tenant")
	switch err := h.reg.End(r.Context(), tenant, id, reason); {
	case errors.Is(err, ErrNotFound):
		admin.WriteError(w, http.StatusNotFound, "no_session", "no such session")
		return
	case errors.Is(err, ErrUnavailable):
		admin.WriteError(w, http.StatusServiceUnavailable, "instance_unavailable", "the instance holding the session did not answer in time")
		return
	case err != nil:
		h.log.Warn("admin: ending a session", "session", id, "err", err)
		admin.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the session cannot be ended now")
		return
	}
	by := "operator"
	if caller, _ := admin.Caller(r.Context()); !caller.Operator {
		by = "tenant " + caller.Tenant
	}
	h.log.Info("admin: session ended", "session", id, "by", by, "reason", reason)
	admin.WriteJSON(w, http.StatusOK, EndReply{Ended: id, Reason: reason})
}

// decodeOptional reads an optional JSON object into v: an empty body is
// none. It returns the error reply for a body that is too large, not
// one JSON object, or has fields v lacks.
func decodeOptional(body io.Reader, v any) (status int, code, msg string) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return 0, "", ""
		}
		if err == nil {
			err = errors.New("more than one JSON value")
		}
	}
	if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, "", "" // no body
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, "body_too_large",
			"request body larger than the limit of " + strconv.FormatInt(tooBig.Limit, 10) + " bytes"
	}
	return http.StatusBadRequest, "bad_body", `want an empty body or {"reason": "..."}`
}

// bans serves GET /v1/bans.
func (h *handler) bans(w http.ResponseWriter, r *http.Request) {
	limit, ok := pageLimit(r)
	if !ok {
		admin.WriteError(w, http.StatusBadRequest, "bad_limit", "limit: want a whole number from 1 (at most "+strconv.Itoa(MaxPage)+" are returned)")
		return
	}
	bans, total := h.lim.Bans(limit)
	reply := BansReply{Bans: make([]BanView, len(bans)), Total: total}
	for i, b := range bans {
		reply.Bans[i] = BanView{Prefix: b.Prefix.String(), Until: b.Until.UTC(), Offences: b.Offences}
	}
	admin.WriteJSON(w, http.StatusOK, reply)
}

// lift serves DELETE /v1/bans/{address-or-prefix}.
func (h *handler) lift(w http.ResponseWriter, r *http.Request) {
	arg := r.PathValue("ban")
	p, err := conf.ParsePrefix(arg)
	if err != nil || len(arg) > 64 {
		admin.WriteError(w, http.StatusBadRequest, "bad_prefix", "want an address or a CIDR prefix, such as 192.0.2.7 or 2001:db8::/64")
		return
	}
	n := h.lim.Lift(p)
	if n == 0 {
		admin.WriteError(w, http.StatusNotFound, "no_ban", "no ban in force within "+p.String())
		return
	}
	h.log.Info("admin: bans lifted", "prefix", p.String(), "lifted", n)
	admin.WriteJSON(w, http.StatusOK, LiftReply{Lifted: n})
}
