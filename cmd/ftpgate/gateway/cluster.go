package gateway

import (
	"cmp"
	"context"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/telemetry"
)

// clusterState is the gateway's part in a cluster ([cluster]): the Redis
// runtime, the instance registry and the cluster-wide session registry.
// A nil *clusterState is a single instance.
type clusterState struct {
	rt       *cluster.Runtime
	reg      *cluster.Registry
	sessions *cluster.SessionRegistry
	// generation is the running configuration's: 1 at start, one more
	// at each reload taken.
	generation atomic.Int64
	started    time.Time
}

// installCluster builds the cluster runtime of [cluster] when it names a
// Redis server, first of install's steps: the plugins' stores take their
// options from g.clusterOptions where they are built, and the session
// registry becomes the cluster's (startClusterSessions). Without
// [cluster] it does nothing.
func (g *Gateway) installCluster(cfg Config) error {
	if !cfg.Cluster.On() {
		return nil
	}
	rt, err := cluster.New(cfg.Cluster, g.log)
	if err != nil {
		return err
	}
	c := &clusterState{rt: rt, started: time.Now().UTC()}
	c.generation.Store(1)
	c.reg = rt.NewRegistry(g.instanceInfo)
	g.cluster = c
	g.stops = append(g.stops, func(context.Context) { _ = rt.Close() })
	g.log.Info("cluster: joined", "instance", rt.ID(), "redis", cfg.Cluster.Redis)
	return nil
}

// startClusterSessions answers the other instances' session requests
// over the server's own sessions (installSessions), with [cluster].
func (g *Gateway) startClusterSessions() {
	c := g.cluster
	if c == nil {
		return
	}
	c.sessions = c.rt.StartSessions(c.reg, g.sessions)
	g.stops = append(g.stops, func(context.Context) { c.sessions.Stop() })
}

// startCluster registers the instance, once its listeners are bound (New);
// Shutdown removes it first of the plugins' stops.
func (g *Gateway) startCluster() {
	c := g.cluster
	if c == nil {
		return
	}
	c.reg.Start()
	g.stops = append(g.stops, c.reg.Stop)
	g.health.metrics.WatchCluster(func() telemetry.ClusterStats {
		st := c.rt.Stats()
		out := telemetry.ClusterStats{Up: st.Up, Features: make([]telemetry.ClusterFeature, len(st.Features))}
		for i, f := range st.Features {
			out.Features[i] = telemetry.ClusterFeature(f)
		}
		return out
	})
}

// clusterOptions returns what a plugin's Redis store of feature f is
// built from, and false without [cluster] (the plugin keeps its
// in-memory state).
//
//lint:ignore U1000 the plugins' Redis stores take their options here (install's marked lines)
func (g *Gateway) clusterOptions(f cluster.Feature) (cluster.FeatureOptions, bool) {
	if g.cluster == nil {
		return cluster.FeatureOptions{}, false
	}
	return g.cluster.rt.Options(f), true
}

// reloaded counts a reload taken in the generation the registry shows.
func (c *clusterState) reloaded() {
	if c != nil {
		c.generation.Add(1)
	}
}

// instanceInfo describes this instance for the registry.
func (g *Gateway) instanceInfo() cluster.Instance {
	in := cluster.Instance{Version: gatewayVersion(), Generation: g.cluster.generation.Load(), Started: g.cluster.started}
	if a := g.srv.Addr(); a != nil {
		in.Addresses.Control = a.String()
	}
	if a := g.srv.ImplicitTLSAddr(); a != nil {
		in.Addresses.ImplicitTLS = a.String()
	}
	in.Addresses.Admin = hostOf(g.adminURL)
	in.Addresses.Telemetry = hostOf(g.TelemetryURL())
	return in
}

// hostOf is a base URL's HOST:PORT.
func hostOf(url string) string {
	_, rest, _ := strings.Cut(url, "://")
	return rest
}

// gatewayVersion is the main module's version.
func gatewayVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return cmp.Or(info.Main.Version, "(devel)")
}

// sessionRegistry is the registry the admin API serves: the cluster's
// with [cluster], else the server's own.
func (g *Gateway) sessionRegistry() sessions.Registry {
	if g.cluster != nil {
		return g.cluster.sessions
	}
	return g.sessions
}

// InstancesReply is the body of GET /v1/cluster/instances.
type InstancesReply struct {
	// Self is this instance's id.
	Self string `json:"self"`
	// Instances are the live instances, by id (at most
	// cluster.MaxInstances).
	Instances []cluster.Instance `json:"instances"`
	// Stale reports that Redis could not be read: Instances is the last
	// list read.
	Stale bool `json:"stale,omitempty"`
}

// mountCluster mounts GET /v1/cluster/instances (operator) with [cluster].
func (g *Gateway) mountCluster(srv *admin.Server) {
	c := g.cluster
	if c == nil {
		return
	}
	srv.Mount(admin.Route{Pattern: "GET /v1/cluster/instances", Scope: admin.ScopeOperator, MaxBody: 1 << 10,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			list, err := c.reg.Instances(r.Context())
			if list == nil {
				list = []cluster.Instance{}
			}
			admin.WriteJSON(w, http.StatusOK, InstancesReply{Self: c.rt.ID(), Instances: list, Stale: err != nil})
		})})
}
