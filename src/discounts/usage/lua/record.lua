-- Claim one usage and append it to the shard's stream, in one atomic step.
-- KEYS: head bucket, stream.  ARGV: prefix, field, bits, used, expires, capacity, stream fields...
if claim(ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 7))
return 1
