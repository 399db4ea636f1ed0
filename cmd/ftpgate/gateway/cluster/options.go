package cluster

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// Feature is a part of the gateway whose state the cluster shares, each
// with its own fail mode ([cluster.fail]) and metrics label.
type Feature int

// The features.
const (
	// Bans: failed-login scores and bans (ratelimit).
	Bans Feature = iota
	// Sessions: session counts (ratelimit) and the session registry.
	Sessions
	// Rates: command and connection rates (ratelimit).
	Rates
	// Quota: quota usage (tenancy).
	Quota
	// Policies: the policy store (policy).
	Policies
	// Instances: the instance registry (always fails open: an instance
	// serves whether or not it is listed).
	Instances
	numFeatures
)

var featureNames = [numFeatures]string{"bans", "sessions", "rates", "quota", "policies", "instances"}

// String returns the feature's name, as in [cluster.fail] and the metrics.
func (f Feature) String() string {
	if f < 0 || f >= numFeatures {
		return "unknown"
	}
	return featureNames[f]
}

// Features lists every feature, in order.
func Features() []Feature {
	fs := make([]Feature, numFeatures)
	for i := range fs {
		fs[i] = Feature(i)
	}
	return fs
}

// FeatureOptions is what a plugin's Redis store is built from. Its fields
// are those of the plugins' RedisOptions (CLUSTER.md), in the same order
// and types, so that the gateway converts one into the other:
//
//	ratelimit.RedisOptions(rt.Options(cluster.Bans))
type FeatureOptions struct {
	// Client is shared by every store of the process.
	Client redis.UniversalClient
	// Prefix is the cluster's key prefix ([cluster].prefix); each store
	// adds its own ("rl:", "pol:", "quota:").
	Prefix string
	// Deadline is each call's deadline ([cluster].deadline).
	Deadline time.Duration
	// FailOpen: on an error or a missed deadline, serve with local state
	// (true) or refuse (false).
	FailOpen bool
	// OnError is called with the operation's name and the error of every
	// failed call: the cluster logs it (rate-limited) and counts it in the
	// feature's fallbacks. Safe for concurrent use; never nil.
	OnError func(op string, err error)
}
