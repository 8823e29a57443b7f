-- Give back a cart's reservation that was never announced (the cart was refused): its count, its share of
-- the code's totals, without a trace on the stream. Anything else is left alone.
-- KEYS: head bucket, stream, and for a code with shared limits its totals hash and its holds.
-- ARGV: field, bits, use.  Returns 1 when it gave the reservation back, 0 otherwise.
local prefix = string.sub(KEYS[1], 1, -5)
local field, bits, use = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local key = find(prefix, field, bits)
local x = extra_key(prefix, field)
if not key or not is_quiet(x, use) then
  return 0
end
local _, cents = parse_hold(redis.call('HGET', x, 'h' .. use))
redis.call('HDEL', x, 'h' .. use, 'q' .. use)
give(x, use, cents, KEYS[3], KEYS[4], field, 'g')
return 1
