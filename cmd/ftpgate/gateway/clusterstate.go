package gateway

import (
	"context"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/tenancy"
)

// policyStore returns where policies are kept and starts restoring them
// into rt in the background: with [cluster], the cluster's Redis
// (policy.RedisStore), followed until ctx ends (notifications and the
// periodic reconcile, policy.DefaultReconcile), so that a policy uploaded
// through any instance rules here too; otherwise the directory dir.
func (g *Gateway) policyStore(ctx context.Context, dir string, rt *policy.Runtime) (policy.Storage, *policy.Restoring) {
	opts, ok := g.clusterOptions(cluster.Policies)
	if !ok {
		store := &policy.Store{Dir: dir}
		return store, store.Restore(ctx, rt)
	}
	store := policy.NewRedisStore(policy.RedisOptions(opts), rt.Config().MaxModuleSize, g.log)
	restoring := policy.Restore(ctx, store, rt)
	go store.Follow(ctx, rt, 0, restoring)
	return store, restoring
}

// shareQuota makes d's byte and files quotas hold across the cluster with
// [cluster] (tenancy.RedisQuota, default step and count period); without
// it each instance counts its own.
func (g *Gateway) shareQuota(d *tenancy.Driver) {
	if opts, ok := g.clusterOptions(cluster.Quota); ok {
		d.ShareQuota(tenancy.NewRedisQuota(tenancy.RedisOptions(opts), g.log), 0, 0)
	}
}
