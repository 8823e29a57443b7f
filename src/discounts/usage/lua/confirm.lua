-- Turn a live hold into a use and append the change to the stream, in one atomic step.
-- KEYS: head bucket, stream, and for a code with shared limits its totals hash and its holds.
-- ARGV: field, bits, use, now (seconds), now (microseconds), stream field.
-- Returns {answer, payload, hold end}: 'done' (confirmed now), 'already' (confirmed before; a plain
-- use has no payload here), 'expired' (the hold ended first; given back now if it was not yet),
-- 'not_found' (no such use, or given back).
local prefix = string.sub(KEYS[1], 1, -5)
local field, bits, use = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = tonumber(ARGV[4])
local key, value = find(prefix, field, bits)
if not key or tonumber(use) > uses_of(value) then
  return {'not_found'}
end
local x = extra_key(prefix, field)
if is_quiet(x, use) then
  return {'not_found'}
end
local held = redis.call('HGET', x, 'h' .. use)
if held then
  local ends, cents, payload = parse_hold(held)
  if ends <= now then
    end_hold(x, use, cents, KEYS[3], KEYS[4], field)
    return {'expired'}
  end
  redis.call('HDEL', x, 'h' .. use)
  redis.call('HSET', x, 'u' .. use, held)
  if KEYS[4] then
    redis.call('ZREM', KEYS[4], field .. ':' .. use)
  end
  redis.call('XADD', KEYS[2], '*', ARGV[6], payload, 'n', use, 's', 'used', 'h', ends, 'at', ARGV[5])
  return {'done', payload, ends}
end
local confirmed = redis.call('HGET', x, 'u' .. use)
if confirmed then
  local ends, _, payload = parse_hold(confirmed)
  return {'already', payload, ends}
end
if redis.call('HEXISTS', x, 'e' .. use) == 1 then
  return {'expired'}
end
if redis.call('HEXISTS', x, 'g' .. use) == 1 then
  return {'not_found'}
end
return {'already'}
