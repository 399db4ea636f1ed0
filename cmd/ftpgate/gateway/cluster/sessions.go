package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
	"github.com/ftpgate/ftpgate/engine/conf"
)

// Bounds of the session fan-out.
const (
	// maxReply bounds one instance's reply to a list, in bytes of JSON:
	// an instance cuts its page there (and says more follow). With
	// MaxInstances, an asking instance holds at most 16 MiB of replies
	// for one request.
	maxReply = 256 << 10
	// maxRequest bounds a request an instance accepts, in bytes.
	maxRequest = 4 << 10
	// maxPending bounds the requests one instance waits for replies to at
	// once; more are refused (the admin API answers 503).
	maxPending = 64
	// msgBuffer is the pub/sub channel's buffer, in messages; when it is
	// full go-redis drops messages after a while, which the asker sees as
	// a missing instance.
	msgBuffer = 256
	// maxQueued bounds the other instances' requests waiting for this
	// one's answer (one worker answers them in turn, so that answering
	// never delays the replies to this instance's own requests); more
	// are dropped, and the askers report this instance missing.
	maxQueued = 16
)

// Channels (after the prefix): "sess:req" carries list requests to
// every instance, "sess:req:<id>" end requests to one, "sess:rep:<id>"
// the replies to the asking instance. Ids are the registry's, never a
// client's string.
const (
	chanReq = "sess:req"
	chanRep = "sess:rep:"
)

// request is one instance's question to the others.
type request struct {
	ID     string `json:"id"`   // random, 32 hex digits
	From   string `json:"from"` // the asking instance
	Op     string `json:"op"`   // "list" or "end"
	Tenant string `json:"tenant,omitempty"`
	// After is the cluster cursor (list), Local the holder's own session
	// id (end).
	After  string `json:"after,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Local  string `json:"local,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// reply is an instance's answer.
type reply struct {
	ID       string             `json:"id"`
	From     string             `json:"from"`
	Sessions []sessions.Session `json:"sessions,omitempty"`
	// More reports sessions after the page's last.
	More bool `json:"more,omitempty"`
	// Result of an end: "ended", "not_found" or "error"; Tenant the
	// ended session's tenant, which the asker checks again.
	Result string `json:"result,omitempty"`
	Tenant string `json:"tenant,omitempty"`
}

// SessionRegistry is the sessions.Registry of a cluster: it lists the sessions
// of every live instance and ends one on whichever instance holds it,
// over Redis pub/sub. A session's id is its instance's id, ".", and the
// instance's own id (sessions.Local's), so ids are unique in the cluster
// and name the instance that can end them. Every request is bounded by
// [cluster].fanout: instances that have not answered by then are
// reported (Coverage), never waited for.
//
// Each instance filters by tenant before it answers, and the asking
// instance checks again (a tenant's list holds only that tenant's
// sessions; an end names the tenant of the session it ended).
type SessionRegistry struct {
	rt    *Runtime
	reg   *Registry
	local sessions.Registry
	ps    *redis.PubSub
	done  chan struct{}
	queue chan string   // requests to answer, at most maxQueued
	idle  chan struct{} // closed when the worker has ended

	mu      sync.Mutex
	pending map[string]chan reply
}

// StartSessions answers the other instances' requests about local's
// sessions and returns the cluster-wide Registry; Stop ends it.
func (r *Runtime) StartSessions(reg *Registry, local sessions.Registry) *SessionRegistry {
	s := &SessionRegistry{rt: r, reg: reg, local: local, done: make(chan struct{}), queue: make(chan string, maxQueued), idle: make(chan struct{}), pending: map[string]chan reply{}}
	p := r.cfg.Prefix
	// Subscribe does not wait for Redis: go-redis subscribes when it can
	// and again after every reconnection.
	s.ps = r.base.Subscribe(context.Background(), p+chanReq, p+chanReq+":"+r.id, p+chanRep+r.id)
	go s.loop(s.ps.Channel(redis.WithChannelSize(msgBuffer)))
	go s.worker()
	return s
}

// worker answers the queued requests in turn until Stop.
func (s *SessionRegistry) worker() {
	defer close(s.idle)
	for payload := range s.queue {
		s.answer(payload)
	}
}

// Stop stops answering (the answer under way ends first); requests
// waiting end with what they have.
func (s *SessionRegistry) Stop() {
	_ = s.ps.Close()
	<-s.done
	<-s.idle
}

func (s *SessionRegistry) loop(ch <-chan *redis.Message) {
	defer close(s.done)
	defer close(s.queue)
	p := s.rt.cfg.Prefix
	for m := range ch {
		switch {
		case m.Channel == p+chanRep+s.rt.id:
			s.deliver(m.Payload)
		case len(m.Payload) <= maxRequest:
			select {
			case s.queue <- m.Payload:
			default: // full: the asker reports this instance missing
			}
		}
	}
}

// deliver hands a reply to the request waiting for it, if any.
func (s *SessionRegistry) deliver(payload string) {
	if len(payload) > maxReply+maxRequest {
		return
	}
	var rp reply
	if json.Unmarshal([]byte(payload), &rp) != nil || !validName(rp.From, maxInstanceID, "") {
		return
	}
	s.mu.Lock()
	ch := s.pending[rp.ID]
	s.mu.Unlock()
	if ch != nil {
		select {
		case ch <- rp:
		default: // more replies than instances asked: dropped
		}
	}
}

// answer serves another instance's request over the local sessions.
func (s *SessionRegistry) answer(payload string) {
	var rq request
	if json.Unmarshal([]byte(payload), &rq) != nil || rq.From == s.rt.id || !validName(rq.From, maxInstanceID, "") ||
		(rq.Tenant != "" && conf.ValidTenantID(rq.Tenant) != nil) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.rt.cfg.Fanout))
	defer cancel()
	var rp reply
	switch rq.Op {
	case "list":
		rp = s.listLocal(ctx, rq)
	case "end":
		rp = s.endLocal(ctx, rq)
	default:
		return
	}
	rp.ID, rp.From = rq.ID, s.rt.id
	b, err := json.Marshal(rp)
	if err != nil {
		return
	}
	if err := s.rt.base.Publish(ctx, s.rt.cfg.Prefix+chanRep+rq.From, b).Err(); err != nil {
		s.rt.Fallback(Sessions, "reply", err)
	}
}

// listLocal is this instance's part of a cluster list: its sessions
// after the cluster cursor, of the tenant asked, cut at maxReply bytes.
func (s *SessionRegistry) listLocal(ctx context.Context, rq request) reply {
	after := ""
	if rq.After != "" {
		inst, local, ok := splitID(rq.After)
		switch {
		case !ok:
			return reply{}
		case inst > s.rt.id:
			return reply{} // the cursor is past this instance
		case inst == s.rt.id:
			after = local
		}
	}
	limit := min(max(rq.Limit, 1), sessions.MaxPage)
	page, next, err := s.local.List(ctx, sessions.Query{Tenant: rq.Tenant, After: after, Limit: limit})
	if err != nil {
		return reply{}
	}
	rp := reply{More: next != ""}
	size := 0
	for i, se := range page {
		if rq.Tenant != "" && se.Tenant != rq.Tenant {
			continue // the local registry filtered already; never trust one check
		}
		se.ID = s.rt.id + "." + se.ID
		b, _ := json.Marshal(se)
		if size += len(b) + 1; size > maxReply-1024 {
			rp.More = rp.More || i < len(page)
			break
		}
		rp.Sessions = append(rp.Sessions, se)
	}
	return rp
}

// endLocal ends one of this instance's sessions for another instance.
func (s *SessionRegistry) endLocal(ctx context.Context, rq request) reply {
	err := s.local.End(ctx, rq.Tenant, rq.Local, sessions.CleanReason(rq.Reason))
	switch {
	case errors.Is(err, sessions.ErrNotFound):
		return reply{Result: "not_found"}
	case err != nil:
		return reply{Result: "error"}
	}
	return reply{Result: "ended", Tenant: rq.Tenant}
}

// splitID splits a cluster session id into its instance's id and the
// instance's own id.
func splitID(id string) (inst, local string, ok bool) {
	i := strings.LastIndexByte(id, '.')
	if i < 0 || !validName(id[:i], maxInstanceID, "") || id[i+1:] == "" || !sessions.ValidID(id) {
		return "", "", false
	}
	for _, c := range id[i+1:] {
		if c < '0' || c > '9' {
			return "", "", false
		}
	}
	return id[:i], id[i+1:], true
}

// ask publishes rq on channel and returns the channel its replies come
// to; done releases it.
func (s *SessionRegistry) ask(ctx context.Context, channel string, rq request, replies int) (<-chan reply, func(), error) {
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	rq.ID, rq.From = hex.EncodeToString(rnd[:]), s.rt.id
	ch := make(chan reply, replies)
	s.mu.Lock()
	if len(s.pending) >= maxPending {
		s.mu.Unlock()
		return nil, nil, errors.New("cluster: too many requests waiting")
	}
	s.pending[rq.ID] = ch
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		delete(s.pending, rq.ID)
		s.mu.Unlock()
	}
	b, _ := json.Marshal(rq)
	if err := s.rt.base.Publish(ctx, s.rt.cfg.Prefix+channel, b).Err(); err != nil {
		done()
		s.rt.Fallback(Sessions, "ask", err)
		return nil, nil, err
	}
	return ch, done, nil
}

// List implements sessions.Registry (ListCluster without the coverage).
func (s *SessionRegistry) List(ctx context.Context, q sessions.Query) ([]sessions.Session, string, error) {
	page, next, _, err := s.ListCluster(ctx, q)
	return page, next, err
}

// ListCluster implements sessions.ClusterLister: the sessions of every
// live instance, in id order (instance id, then the instance's own),
// within [cluster].fanout. An instance's sessions come from that
// instance, filtered by tenant there and checked again here.
func (s *SessionRegistry) ListCluster(ctx context.Context, q sessions.Query) ([]sessions.Session, string, sessions.Coverage, error) {
	var cov sessions.Coverage
	cursor := ""
	if q.After != "" {
		inst, _, ok := splitID(q.After)
		if !ok {
			return nil, "", cov, sessions.ErrBadCursor
		}
		cursor = inst
	}
	limit := min(max(q.Limit, 1), sessions.MaxPage)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.rt.cfg.Fanout))
	defer cancel()

	// The instances asked: the registry's, past the cursor's instance.
	known, regErr := s.reg.Instances(ctx)
	expected := map[string]bool{}
	for _, in := range known {
		if in.ID != s.rt.id && in.ID >= cursor {
			expected[in.ID] = true
		}
	}
	got := map[string]reply{}
	if rq := (request{Op: "list", Tenant: q.Tenant, After: q.After, Limit: limit}); s.rt.id >= cursor {
		got[s.rt.id] = s.listLocal(ctx, rq)
	}
	if regErr != nil {
		cov.Partial = true
	}
	ch, done, err := s.ask(ctx, chanReq, request{Op: "list", Tenant: q.Tenant, After: q.After, Limit: limit}, MaxInstances)
	if err != nil {
		cov.Partial = true
	} else {
		defer done()
	wait:
		for len(expected) > 0 || regErr != nil {
			select {
			case rp := <-ch:
				if rp.From != s.rt.id {
					got[rp.From] = rp
					delete(expected, rp.From)
				}
			case <-ctx.Done():
				break wait
			}
		}
	}
	for id := range expected {
		cov.Partial = true
		cov.Missing = append(cov.Missing, id)
	}
	slices.Sort(cov.Missing)

	ids := make([]string, 0, len(got))
	for id := range got {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	page := []sessions.Session{}
	for _, id := range ids {
		rp := got[id]
		for _, se := range rp.Sessions {
			inst, _, ok := splitID(se.ID)
			if !ok || inst != id || (q.Tenant != "" && se.Tenant != q.Tenant) || (q.After != "" && !after(se.ID, q.After)) {
				continue // not this instance's, another tenant's, or before the cursor
			}
			if len(page) == limit {
				return page, page[len(page)-1].ID, cov, nil
			}
			page = append(page, se)
		}
		if rp.More && len(page) > 0 {
			return page, page[len(page)-1].ID, cov, nil
		}
	}
	return page, "", cov, nil
}

// after reports whether cluster id a comes after b (instance id, then
// the instance's own number).
func after(a, b string) bool {
	ai, al, _ := splitID(a)
	bi, bl, _ := splitID(b)
	if ai != bi {
		return ai > bi
	}
	an, _ := strconv.ParseUint(al, 10, 64)
	bn, _ := strconv.ParseUint(bl, 10, 64)
	return an > bn
}

// End implements sessions.Registry: it ends session id on the instance
// holding it, which must be live in the registry. A tenant's request is
// checked by that instance, and its reply's tenant checked again here.
func (s *SessionRegistry) End(ctx context.Context, tenant, id, reason string) error {
	inst, local, ok := splitID(id)
	if !ok {
		return sessions.ErrNotFound
	}
	if inst == s.rt.id {
		return s.local.End(ctx, tenant, local, reason)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.rt.cfg.Fanout))
	defer cancel()
	known, err := s.reg.Instances(ctx)
	i := slices.IndexFunc(known, func(in Instance) bool { return in.ID == inst })
	switch {
	case i < 0 && err != nil:
		return sessions.ErrUnavailable
	case i < 0:
		return sessions.ErrNotFound
	}
	// The channel is named by the registry's id, equal to the one asked.
	ch, done, err := s.ask(ctx, chanReq+":"+known[i].ID, request{Op: "end", Tenant: tenant, Local: local, Reason: reason}, 1)
	if err != nil {
		return sessions.ErrUnavailable
	}
	defer done()
	for {
		select {
		case rp := <-ch:
			if rp.From != known[i].ID {
				continue
			}
			switch {
			case rp.Result == "not_found":
				return sessions.ErrNotFound
			case rp.Result != "ended":
				return errors.New("cluster: instance " + rp.From + " could not end the session")
			case tenant != "" && rp.Tenant != tenant:
				s.rt.log.Error("cluster: an instance ended a session for another tenant than asked", "instance", rp.From, "tenant", tenant)
				return sessions.ErrNotFound
			}
			return nil
		case <-ctx.Done():
			return sessions.ErrUnavailable
		}
	}
}

var _ sessions.ClusterLister = (*SessionRegistry)(nil)
