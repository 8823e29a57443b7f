-- Claim one usage and append it to the shard's stream, in one atomic step.
-- KEYS: head bucket (the code's prefix .. ':0:0'), stream.
-- ARGV: field, bits, used, expires, capacity, stream field, stream value.
local prefix = string.sub(KEYS[1], 1, -5)
if claim(prefix, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], '*', ARGV[6], ARGV[7])
return 1
