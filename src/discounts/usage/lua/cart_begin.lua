-- Commit a cart whose reservations all succeeded: its record and its place among the carts still being
-- settled, in one atomic step. A cart is committed once. (Its entry for the ledger is appended when it is
-- closed, settled: a cart that could not be settled is given back and never reaches the ledger.)
-- KEYS: the cart's hash, the shard's set of open carts, the shard's stream.
-- ARGV: cart id, record (JSON), state ('held' or 'used'), seconds to keep it, now (unix seconds),
--       stream field, stream value, each code's use number (comma-separated), the cart's summary.
-- Returns false when committed now, else the stored record, summary, uses, state and decision's moment (the
-- same cart, committed before).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HMGET', KEYS[1], 'r', 'b', 'n', 's', 'd')
end
redis.call('HSET', KEYS[1], 'r', ARGV[2], 'b', ARGV[9], 'n', ARGV[8], 's', ARGV[3], 'd', ARGV[5], 'e', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
return false
