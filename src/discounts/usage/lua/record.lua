-- Claim one more use of (code, user) within its limits and append it to the shard's stream, in one atomic step.
-- KEYS: head bucket (the code's prefix .. ':0:0'), stream, and for a code with shared limits its totals
--       hash and its holds (sorted set).
-- ARGV: field, bits, now, expires, capacity, stream field, stream value,
--       then (optional) uses per user, max uses (0: none), budget in cents (-1: none), this discount in cents,
--       "dry" to answer what the claim would answer without changing anything (a quote),
--       and the end of the hold in unix seconds (0: a use, not a hold).
-- Returns the claim's use number (1, 2, ...) when claimed, 0 when the user's uses are all taken,
-- -1 when the code's max uses or budget would be passed. Nothing changes unless it returns a use number
-- (but holds that have ended are given back first, whatever the answer).
local prefix = string.sub(KEYS[1], 1, -5)
local field, bits = ARGV[1], tonumber(ARGV[2])
local now, expires, capacity = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local per_user = tonumber(ARGV[8]) or 1
local dry = ARGV[12] == 'dry'
local hold_until = tonumber(ARGV[13]) or 0
local cents = tonumber(ARGV[11]) or 0
local totals, holds = KEYS[3], KEYS[4]
local freed, cents_freed = 0, 0
if holds then
  freed, cents_freed = collect_code(prefix, holds, totals, now, dry)
  if not dry then
    freed, cents_freed = 0, 0
  end
end
local key, value, top = find(prefix, field, bits)
local claims, live, extra = 0, 0, false
local x = extra_key(prefix, field)
if key then
  claims = uses_of(value)
  live = claims
  if redis.call('EXISTS', x) == 1 then
    extra = true
    if dry then
      live = live_count(x, now)
    else
      collect_user(x, now, totals, holds, field)
      live = tonumber(redis.call('HGET', x, 'a'))
    end
  end
  if live >= per_user then
    return 0
  end
end
if totals then
  local max_uses, budget = tonumber(ARGV[9]), tonumber(ARGV[10])
  local stored = redis.call('HMGET', totals, 'n', 'c')
  local n, spent = (tonumber(stored[1]) or 0) - freed, (tonumber(stored[2]) or 0) - cents_freed
  if (max_uses > 0 and n >= max_uses) or (budget >= 0 and spent + cents > budget) then
    return -1
  end
  if not dry then
    add_to_totals(totals, cents, expires)
  end
end
local use = claims + 1
if dry then
  return use
end
if key then
  redis.call('HSET', key, field, -(use * MULTI + seconds_of(value)))
else
  insert(prefix, field, bits, now, expires, capacity, top)
end
if hold_until > 0 or extra then
  ensure_extra(x, claims, expires)
  redis.call('HINCRBY', x, 'a', 1)
end
local entry = {ARGV[6], ARGV[7]}
if use > 1 then
  entry[#entry + 1], entry[#entry + 2] = 'n', use
end
if hold_until > 0 then
  redis.call('HSET', x, 'h' .. use, hold_until .. ':' .. cents .. ':' .. ARGV[7])
  if holds then
    redis.call('ZADD', holds, hold_until, field .. ':' .. use)
    if redis.call('EXPIRETIME', holds) < 0 then
      redis.call('EXPIREAT', holds, expires)
    end
  end
  entry[#entry + 1], entry[#entry + 2], entry[#entry + 3], entry[#entry + 4] = 's', 'held', 'h', hold_until
end
redis.call('XADD', KEYS[2], '*', unpack(entry))
return use
