-- A whole cart on one Redis (not a cluster): every code claimed within its limits, its record and its stream
-- entries written, or nothing, in one atomic step. (A cluster cannot run one script over several slots: there a
-- cart is reserved, committed and settled step by step, redis_carts.py.)
-- KEYS: per code its head bucket, its shard's stream, its totals hash and its holds (the last two used only
--       with shared limits); then the cart's hash and the cart's shard's stream.
-- ARGV: n codes, cart id, record (JSON, without the use numbers), state ('held' or 'used'), seconds to keep the
--       record, now (unix seconds),
--       cart stream field, cart stream value, usage stream field, bucket capacity, the cart's summary (kept as it
--       is in the record's field 'b' and beside the cart's stream entry),
--       then per code 10: field, bits, expires, payload, uses per user, max uses (0: none), budget (-1: none),
--       this discount in cents, the hold's end (0: a use), shared limits (1 or 0).
-- Returns {'claimed', use...}, {'refused', answer...} (each code's: a use number, 0 or -1; nothing written), or
-- {'exists', record, summary, uses, state, decided} for a cart committed before under this id.
local n, cart_id = tonumber(ARGV[1]), ARGV[2]
local cart_key, cart_stream = KEYS[4 * n + 1], KEYS[4 * n + 2]
if redis.call('EXISTS', cart_key) == 1 then
  local found = redis.call('HMGET', cart_key, 'r', 'b', 'n', 's', 'd')
  return {'exists', found[1], found[2], found[3], found[4], found[5]}
end
local now, capacity = tonumber(ARGV[6]), tonumber(ARGV[10])
local claims, states, answers, refused = {}, {}, {}, false
for i = 1, n do
  local k, a = 4 * (i - 1), 11 + 10 * (i - 1)
  local shared = ARGV[a + 10] == '1'
  local c = {
    prefix = string.sub(KEYS[k + 1], 1, -5), stream = KEYS[k + 2],
    totals = shared and KEYS[k + 3] or nil, holds = shared and KEYS[k + 4] or nil,
    field = ARGV[a + 1], bits = tonumber(ARGV[a + 2]), now = now, expires = tonumber(ARGV[a + 3]),
    capacity = capacity, sfield = ARGV[9], payload = ARGV[a + 4],
    per_user = tonumber(ARGV[a + 5]), max_uses = tonumber(ARGV[a + 6]), budget = tonumber(ARGV[a + 7]),
    cents = tonumber(ARGV[a + 8]), dry = false, hold_until = tonumber(ARGV[a + 9]), nonce = '', quiet = false,
  }
  c.keep = c.hold_until == 0
  local state = claim_check(c)
  claims[i], states[i] = c, state
  if type(state) == 'number' then
    answers[i] = state
    refused = refused or state <= 0
  else
    answers[i] = state.use
  end
end
if refused then
  table.insert(answers, 1, 'refused')
  return answers
end
for i = 1, n do
  if type(states[i]) ~= 'number' then
    answers[i] = claim_apply(claims[i], states[i])
  end
end
redis.call('HSET', cart_key, 'r', ARGV[3], 'b', ARGV[11], 'n', table.concat(answers, ','), 's', ARGV[4], 'd', ARGV[6],
  'x', '1')
redis.call('EXPIRE', cart_key, ARGV[5])
redis.call('XADD', cart_stream, '*', ARGV[7], ARGV[8], 'b', ARGV[11])
table.insert(answers, 1, 'claimed')
return answers
