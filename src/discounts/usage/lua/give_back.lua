-- Release a live hold or roll back a use, and append the change to the stream, in one atomic step.
-- KEYS: head bucket, stream, and for a code with shared limits its totals hash and its holds.
-- ARGV: field, bits, use, now (seconds), now (microseconds), stream field,
--       and for a plain use the usage's payload and cents (from the ledger; '' when not known yet).
-- Returns {answer, payload, hold end, status}: 'done', 'not_found' (no such use, given back already,
-- or a hold that ended), or 'needs_usage' (a plain use: call again with its payload and cents).
local prefix = string.sub(KEYS[1], 1, -5)
local field, bits, use = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = tonumber(ARGV[4])
local totals, holds = KEYS[3], KEYS[4]
local key, value = find(prefix, field, bits)
if not key or tonumber(use) > uses_of(value) then
  return {'not_found'}
end
local x = extra_key(prefix, field)
if is_quiet(x, use) then
  return {'not_found'}
end
local function given(payload, ends, status)
  local entry = {ARGV[6], payload, 'n', use, 's', status, 'at', ARGV[5]}
  if ends and ends ~= 0 then
    entry[#entry + 1], entry[#entry + 2] = 'h', ends
  end
  redis.call('XADD', KEYS[2], '*', unpack(entry))
  return {'done', payload, ends or false, status}
end
local held = redis.call('HGET', x, 'h' .. use)
if held then
  local ends, cents, payload = parse_hold(held)
  redis.call('HDEL', x, 'h' .. use)
  if ends <= now then
    give(x, use, cents, totals, holds, field, 'e')
    return {'not_found'}
  end
  give(x, use, cents, totals, holds, field, 'g')
  return given(payload, ends, 'released')
end
local confirmed = redis.call('HGET', x, 'u' .. use)
if confirmed then
  local ends, cents, payload = parse_hold(confirmed)
  redis.call('HDEL', x, 'u' .. use)
  give(x, use, cents, totals, holds, field, 'g')
  return given(payload, ends, 'rolled_back')
end
if redis.call('HEXISTS', x, 'e' .. use) == 1 or redis.call('HEXISTS', x, 'g' .. use) == 1 then
  return {'not_found'}
end
if ARGV[7] == nil or ARGV[7] == '' then
  return {'needs_usage'}
end
ensure_extra(x, uses_of(value), redis.call('EXPIRETIME', key))
give(x, use, tonumber(ARGV[8]), totals, holds, field, 'g')
return given(ARGV[7], nil, 'rolled_back')
