-- Announce a cart's reservation once the cart is committed: a hold (a held cart) or a use, appended to the
-- stream like any claim, in one atomic step. Settling again changes nothing.
-- KEYS: head bucket, stream, and for a code with shared limits its totals hash and its holds.
-- ARGV: field, bits, use, mode ('held' or 'used'), stream field, and 'check' to change nothing: only say
--       whether it could be settled ('live' for a reservation still there).
-- Returns 'done', 'already' (settled before), or 'lost' (the reservation ended or was given back first:
-- only when the cart's committer died and nobody settled it before the reservation's end).
local prefix = string.sub(KEYS[1], 1, -5)
local field, bits, use, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local key, value = find(prefix, field, bits)
if not key or tonumber(use) > uses_of(value) then
  return 'lost'
end
local x = extra_key(prefix, field)
local held = redis.call('HGET', x, 'h' .. use)
if not is_quiet(x, use) then
  if held or redis.call('HEXISTS', x, 'u' .. use) == 1 or redis.call('HEXISTS', x, 'g' .. use) == 1 then
    return 'already'
  end
  return 'lost'
end
if ARGV[6] == 'check' then
  return 'live'
end
local ends, cents, payload = parse_hold(held)
redis.call('HDEL', x, 'q' .. use)
if mode == 'used' then
  redis.call('HDEL', x, 'h' .. use)
  redis.call('HSET', x, 'u' .. use, '0:' .. cents .. ':' .. payload)
  if KEYS[4] then
    redis.call('ZREM', KEYS[4], field .. ':' .. use)
  end
  redis.call('XADD', KEYS[2], '*', ARGV[5], payload, 'n', use)
else
  redis.call('XADD', KEYS[2], '*', ARGV[5], payload, 'n', use, 's', 'held', 'h', ends)
end
return 'done'
