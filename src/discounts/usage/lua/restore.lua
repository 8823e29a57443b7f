-- Put usages of one shard back after a loss, without touching the stream; returns how many were new.
-- KEYS: the shard's stream (it routes the call to the shard's slot).
-- ARGV: capacity, then per usage: prefix, field, bits, used, expires, use number, totals hash ('' if none), cents.
-- A user's uses come in order, so use n is missing exactly when fewer than n are stored; each one
-- put back also counts again in its code's totals, which were lost with it.
local capacity = tonumber(ARGV[1])
local added = 0
for i = 2, #ARGV, 8 do
  local prefix, field, bits = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local used, expires, use = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
  local key, value, top = find(prefix, field, bits)
  local have = 0
  if key then
    have = uses_of(value)
  end
  if use > have then
    if not key then
      key = insert(prefix, field, bits, used, expires, capacity, top)
      value = tonumber(redis.call('HGET', key, field))
    end
    if use > 1 then
      redis.call('HSET', key, field, -(use * MULTI + seconds_of(value)))
    end
    if ARGV[i + 6] ~= '' then
      add_to_totals(ARGV[i + 6], tonumber(ARGV[i + 7]), expires)
    end
    added = added + 1
  end
end
return added
