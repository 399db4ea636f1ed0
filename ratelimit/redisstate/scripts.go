package redisstate

import "github.com/redis/go-redis/v9"

// The Lua scripts below run atomically in Redis and take the time from
// Redis (TIME), never from an instance's clock, so that the instances of
// a cluster agree on rates, windows and lease expiries. Times are unix
// milliseconds (13 digits: exact in Lua's numbers and printed without an
// exponent).

// luaLib is prepended to every script: the clock and the two buckets.
const luaLib = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- tokens returns the tokens of the score at k: max, refilled at max per
-- window milliseconds since it was last written.
local function tokens(k, max, window)
  local v = redis.call('HMGET', k, 't', 'ts')
  local t0, ts = tonumber(v[1]), tonumber(v[2])
  if not t0 or not ts then return max end
  local tk = t0 + (now - ts) * max / window
  if tk > max then tk = max end
  return tk
end

-- take takes a token from the bucket at k (rate per second, burst) and
-- returns the milliseconds to wait for it, or -1, taking nothing, when
-- that would be longer than maxwait.
local function take(k, rate, burst, maxwait)
  local perms = rate / 1000
  local v = redis.call('HMGET', k, 't', 'ts')
  local t0, ts = tonumber(v[1]), tonumber(v[2])
  local tk = burst
  if t0 and ts then
    tk = t0 + (now - ts) * perms
    if tk > burst then tk = burst end
  end
  tk = tk - 1
  local wait = 0
  if tk < 0 then
    wait = math.ceil(-tk / perms)
    if wait > maxwait then return -1 end
  end
  redis.call('HSET', k, 't', tostring(tk), 'ts', now)
  redis.call('PEXPIRE', k, math.ceil(burst / perms) + 1000)
  return wait
end

local function inflight(k)
  return tonumber(redis.call('GET', k) or '0')
end

local function release(k)
  if redis.call('DECR', k) <= 0 then redis.call('DEL', k) end
end
`

// admitScript: KEYS ban, connection bucket; ARGV checkBan (0/1), rate,
// burst. Returns {bannedUntil or 0, allowed 0/1}.
var admitScript = redis.NewScript(luaLib + `
if ARGV[1] == '1' then
  local u = tonumber(redis.call('HGET', KEYS[1], 'u') or '0')
  if u > now then return {u, 0} end
end
local rate = tonumber(ARGV[2])
if rate > 0 and take(KEYS[2], rate, tonumber(ARGV[3]), 0) < 0 then return {0, 0} end
return {0, 1}
`)

// beginLoginScript: KEYS ban, address score, address in flight, account
// score, account in flight; ARGV failures, window ms, in-flight TTL ms.
// Returns {bannedUntil or 0, refused 0/1/2}.
var beginLoginScript = redis.NewScript(luaLib + `
local u = tonumber(redis.call('HGET', KEYS[1], 'u') or '0')
if u > now then return {u, 0} end
local max, window, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if tokens(KEYS[2], max, window) - inflight(KEYS[3]) < 1 then return {0, 1} end
if tokens(KEYS[4], max, window) - inflight(KEYS[5]) < 1 then return {0, 2} end
redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('INCR', KEYS[5])
redis.call('PEXPIRE', KEYS[5], ttl)
return {0, 0}
`)

// endLoginScript: KEYS address in flight, account in flight.
var endLoginScript = redis.NewScript(`
for i = 1, #KEYS do
  if redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
end
return 0
`)

// loginFailedScript: KEYS address score, address in flight, account
// score, account in flight, ban, ban index, the tenant's account index,
// the ban memory index;
// ARGV failures, window ms, ban (0/1), ban ms, max ban ms, ban memory
// ms, max bans, the index member (the prefix), the ban keys' prefix, the
// user's part of the account key (the account index's member: "/" and
// the name, or "#" and its hash), the most accounts scored per tenant,
// the tenant's account score keys' prefix (which the member completes).
// Returns {until or 0,
// offences}: the ban issued now, if any.
var loginFailedScript = redis.NewScript(luaLib + `
local max, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local over = false
for _, k in ipairs({KEYS[1], KEYS[3]}) do
  local tk = tokens(k, max, window)
  if tk >= 1 then tk = tk - 1 end
  if tk < 1 then over = true end
  redis.call('HSET', k, 't', tostring(tk), 'ts', now)
  redis.call('PEXPIRE', k, window)
end
-- The tenant's scored accounts, by their last failure: at most ARGV[11].
-- When a new name makes one too many, the score idle longest goes (as
-- the local table forgets the least recently used), so made-up user
-- names cost a bounded set of keys. Entries past the window have no
-- score left (the key expired with it).
redis.call('ZADD', KEYS[7], now, ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - window)
redis.call('PEXPIRE', KEYS[7], window)
local surplus = redis.call('ZCARD', KEYS[7]) - tonumber(ARGV[11])
if surplus > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[7], surplus)
  for i = 1, #gone, 2 do redis.call('DEL', ARGV[12] .. gone[i]) end
end
release(KEYS[2])
release(KEYS[4])
if not over or ARGV[3] ~= '1' then return {0, 0} end
local b = redis.call('HMGET', KEYS[5], 'u', 'o')
local u, o = tonumber(b[1] or '0'), tonumber(b[2] or '0')
if u > now then return {0, 0} end -- already banned
o = o + 1
local d, maxban = tonumber(ARGV[4]), tonumber(ARGV[5])
for i = 2, o do
  if d >= maxban then break end
  d = d * 2
end
if d > maxban then d = maxban end
u = now + d
redis.call('HSET', KEYS[5], 'u', u, 'o', o)
redis.call('PEXPIRE', KEYS[5], d + tonumber(ARGV[6]))
-- The ban is the penalty: the address starts again with a full score.
redis.call('DEL', KEYS[1])
-- The index lists the bans in force, at most max bans: when it is full,
-- the ban that ends first goes (with its offences), as the in-memory list.
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
redis.call('ZADD', KEYS[6], u, ARGV[8])
redis.call('PEXPIRE', KEYS[6], maxban)
local extra = redis.call('ZCARD', KEYS[6]) - tonumber(ARGV[7])
if extra > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[6], extra)
  for i = 1, #gone, 2 do redis.call('DEL', ARGV[9] .. gone[i]) end
end
-- A ban's offences outlive it by the ban memory, and the addresses a
-- client can ban are many (an IPv6 range's /64s): the memory index lists
-- every ban key by the end of its memory, at most max bans, as the local
-- table keeps at most that many; past it the memory that ends first goes
-- (its ban too, if still in force: it is then among the first to end).
local mem = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now)
redis.call('ZADD', KEYS[8], u + mem, ARGV[8])
redis.call('PEXPIRE', KEYS[8], maxban + mem)
local forgot = redis.call('ZCARD', KEYS[8]) - tonumber(ARGV[7])
if forgot > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[8], forgot)
  for i = 1, #gone, 2 do
    redis.call('DEL', ARGV[9] .. gone[i])
    redis.call('ZREM', KEYS[6], gone[i])
  end
end
return {u, o}
`)

// bannedScript: KEYS ban. Returns until, or 0 when not banned.
var bannedScript = redis.NewScript(luaLib + `
local u = tonumber(redis.call('HGET', KEYS[1], 'u') or '0')
if u > now then return u end
return 0
`)

// bansScript: KEYS ban index; ARGV the ban keys' prefix, count only
// (0/1). Returns the count of bans in force, or {member, until,
// offences, ...} of every one (at most the index's cap).
var bansScript = redis.NewScript(luaLib + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[2] == '1' then return redis.call('ZCARD', KEYS[1]) end
local m = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #m, 2 do
  local o = redis.call('HGET', ARGV[1] .. m[i], 'o') or '1'
  out[#out + 1] = m[i]
  out[#out + 1] = tonumber(m[i + 1])
  out[#out + 1] = tonumber(o)
end
return out
`)

// membersScript: KEYS ban index. Returns the members (prefixes) in force.
var membersScript = redis.NewScript(luaLib + `
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`)

// liftScript: KEYS ban index, ban memory index; ARGV the ban keys'
// prefix, then members.
// Lifts each member's ban and forgets its offences; returns how many
// were in force.
var liftScript = redis.NewScript(luaLib + `
local n = 0
for i = 2, #ARGV do
  local k = ARGV[1] .. ARGV[i]
  if tonumber(redis.call('HGET', k, 'u') or '0') > now then n = n + 1 end
  redis.call('DEL', k)
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return n
`)

// holdScript: KEYS the lease sets (user's, tenant's: those with a cap);
// ARGV member, lease ms, then each key's cap. Takes a slot in every set
// or none; returns 0, or the index of the first set that is full.
var holdScript = redis.NewScript(luaLib + `
local lease = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[2 + i]) then return i end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], lease)
end
return 0
`)

// renewScript: KEYS the lease sets of one hold; ARGV member, lease ms.
// Extends the lease; after Redis lost its data (a restart without
// persistence) it puts the member back, so live sessions count again.
var renewScript = redis.NewScript(luaLib + `
local lease = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + lease, ARGV[1])
  if redis.call('PTTL', KEYS[i]) < lease then redis.call('PEXPIRE', KEYS[i], lease) end
end
return 0
`)

// commandScript: KEYS the tenant's command bucket; ARGV rate, burst, max
// wait ms. Returns the wait in ms, or -1 (nothing taken).
var commandScript = redis.NewScript(luaLib + `
return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
`)
