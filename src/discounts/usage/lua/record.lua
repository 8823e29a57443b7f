-- Claim one more use of (code, user) within its limits and append it to the shard's stream, in one atomic step.
-- KEYS: head bucket (the code's prefix .. ':0:0'), stream, and for a code with shared limits its totals hash.
-- ARGV: field, bits, used, expires, capacity, stream field, stream value,
--       then (optional) uses per user, max uses (0: none), budget in cents (-1: none), this discount in cents,
--       and "dry" to answer what the claim would answer without changing anything (a quote).
-- Returns the user's use number (1, 2, ...) when claimed, 0 when the user's uses are all taken,
-- -1 when the code's max uses or budget would be passed. Nothing changes unless it returns a use number.
local prefix = string.sub(KEYS[1], 1, -5)
local field, bits = ARGV[1], tonumber(ARGV[2])
local used, expires, capacity = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local per_user = tonumber(ARGV[8]) or 1
local dry = ARGV[12] == 'dry'
local key, value, top = find(prefix, field, bits)
local uses = 0
if key then
  uses = uses_of(value)
  if uses >= per_user then
    return 0
  end
end
if KEYS[3] then
  local max_uses, budget, cents = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
  local totals = redis.call('HMGET', KEYS[3], 'n', 'c')
  local n, spent = tonumber(totals[1]) or 0, tonumber(totals[2]) or 0
  if (max_uses > 0 and n >= max_uses) or (budget >= 0 and spent + cents > budget) then
    return -1
  end
  if not dry then
    add_to_totals(KEYS[3], cents, expires)
  end
end
if dry then
  return uses + 1
end
if key then
  redis.call('HSET', key, field, -((uses + 1) * MULTI + seconds_of(value)))
else
  insert(prefix, field, bits, used, expires, capacity, top)
end
if uses == 0 then
  redis.call('XADD', KEYS[2], '*', ARGV[6], ARGV[7])
else
  redis.call('XADD', KEYS[2], '*', ARGV[6], ARGV[7], 'n', uses + 1)
end
return uses + 1
