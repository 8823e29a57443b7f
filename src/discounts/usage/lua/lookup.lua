-- When each (code, user) of one shard was first claimed (unix seconds), or nil when it is not there
-- or none of its claims is live (held or used) at ``now``.
-- KEYS: the shard's stream (routing only).  ARGV: now, then per usage: prefix, field, bits.
local now = tonumber(ARGV[1])
local result = {}
for i = 2, #ARGV, 3 do
  local key, value = find(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]))
  local x = key and extra_key(ARGV[i], ARGV[i + 1])
  if key and (redis.call('EXISTS', x) == 0 or live_count(x, now) > 0) then
    result[#result + 1] = redis.call('EXPIRETIME', key) - seconds_of(value)
  else
    result[#result + 1] = false
  end
end
return result
