-- When each (code, user) of one shard was first used (unix seconds), or nil when it is not there.
-- KEYS: the shard's stream (routing only).  ARGV: per usage: prefix, field, bits.
local result = {}
for i = 1, #ARGV, 3 do
  local key, value = find(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]))
  if key then
    result[#result + 1] = redis.call('EXPIRETIME', key) - seconds_of(value)
  else
    result[#result + 1] = false
  end
end
return result
