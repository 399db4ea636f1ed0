package gateway

import (
	"context"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/ftpgate/ftpgate/ratelimit/redisstate"
)

// shareLimits gives the limiter the cluster's shared state when
// [cluster] is configured: bans and failure scores, session caps and the
// shared rates then hold over every instance, each feature with its own
// fail mode ([cluster.fail] bans, sessions, rates). Session leases last
// [cluster].lease, as the instance registry's, and the store's heartbeat
// stops with the gateway. Without [cluster] it does nothing.
func (g *Gateway) shareLimits(l *ratelimit.Limiter, cfg Config) error {
	b, ok := g.clusterOptions(cluster.Bans)
	if !ok {
		return nil
	}
	s, _ := g.clusterOptions(cluster.Sessions)
	r, _ := g.clusterOptions(cluster.Rates)
	st, err := redisstate.New(redisstate.Options{Bans: redisstate.RedisOptions(b), Sessions: redisstate.RedisOptions(s),
		Rates: redisstate.RedisOptions(r), Lease: time.Duration(cfg.Cluster.Lease)})
	if err != nil {
		return err
	}
	l.Shared = st
	g.stops = append(g.stops, func(context.Context) { st.Close() })
	return nil
}
