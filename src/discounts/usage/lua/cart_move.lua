-- Move a cart to a new state before its usages follow (write-ahead): whoever finishes the work — this
-- request, a retry, the periodic finisher — reads the decision here. Or close it once they have (the first
-- close appends the cart to its shard's stream, for the ledger, unless it is there already: 'x'), or forget it (a cart that could not be
-- settled: its claims were given back).
-- KEYS: the cart's hash, the shard's set of open carts, the shard's stream.
-- ARGV: cart id, 'close' (with the stream field) or 'forget', or: the state it must be in (one of a
--       comma-separated list), the new state, the decision's moment (unix seconds).
-- Returns {state, decided} as stored after the call, or false for no such cart.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
if ARGV[2] == 'forget' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[1])
  return false
end
if ARGV[2] == 'close' then
  if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 and redis.call('HSETNX', KEYS[1], 'x', '1') == 1 then
    local entry = redis.call('HMGET', KEYS[1], 'e', 'b')
    redis.call('XADD', KEYS[3], '*', ARGV[3], entry[1], 'b', entry[2])
  end
  return redis.call('HMGET', KEYS[1], 's', 'd')
end
local state = redis.call('HGET', KEYS[1], 's')
if string.find(',' .. ARGV[2] .. ',', ',' .. state .. ',', 1, true) then
  redis.call('HSET', KEYS[1], 's', ARGV[3], 'd', ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
return redis.call('HMGET', KEYS[1], 's', 'd')
