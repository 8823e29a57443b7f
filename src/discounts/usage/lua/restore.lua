-- Put usages of one shard back after a loss, without touching the stream; returns how many were new.
-- KEYS: the shard's stream (it routes the call to the shard's slot).
-- ARGV: capacity, then per usage: prefix, field, bits, used, expires.
local capacity = tonumber(ARGV[1])
local added = 0
for i = 2, #ARGV, 5 do
  added = added + claim(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), capacity)
end
return added
