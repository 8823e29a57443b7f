-- Move a cart to a new state before its usages follow (write-ahead): whoever finishes the work — this
-- request, a retry, the periodic finisher — reads the decision here. Or close it once they have.
-- KEYS: the cart's hash, the shard's set of open carts.
-- ARGV: cart id, 'close', or: the state it must be in (one of a comma-separated list), the new state,
--       the decision's moment (unix seconds).
-- Returns {state, decided} as stored after the call, or false for no such cart.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
if ARGV[2] == 'close' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return redis.call('HMGET', KEYS[1], 's', 'd')
end
local state = redis.call('HGET', KEYS[1], 's')
if string.find(',' .. ARGV[2] .. ',', ',' .. state .. ',', 1, true) then
  redis.call('HSET', KEYS[1], 's', ARGV[3], 'd', ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
return redis.call('HMGET', KEYS[1], 's', 'd')
