-- Claim one more use of (code, user) within its limits and append it to the shard's stream, in one atomic step.
-- KEYS: head bucket (the code's prefix .. ':0:0'), stream, and for a code with shared limits its totals
--       hash and its holds (sorted set).
-- ARGV: field, bits, now, expires, capacity, stream field, stream value,
--       then (optional) uses per user, max uses (0: none), budget in cents (-1: none), this discount in cents,
--       "dry" to answer what the claim would answer without changing anything (a quote),
--       the end of the hold in unix seconds (0: a use, not a hold),
--       the request's nonce ('' for none): a claim that finds a live claim of the same nonce is that claim,
--       and "quiet" for a cart's reservation: a hold that nothing reads from the stream until it is settled.
-- Returns the claim's use number (1, 2, ...) when claimed (or found: the same nonce), 0 when the user's uses
-- are all taken, -1 when the code's max uses or budget would be passed. Nothing changes unless it returns a
-- use number (but holds that have ended are given back first, whatever the answer).
local c = {
  prefix = string.sub(KEYS[1], 1, -5), stream = KEYS[2], totals = KEYS[3], holds = KEYS[4],
  field = ARGV[1], bits = tonumber(ARGV[2]), now = tonumber(ARGV[3]), expires = tonumber(ARGV[4]),
  capacity = tonumber(ARGV[5]), sfield = ARGV[6], payload = ARGV[7],
  per_user = tonumber(ARGV[8]) or 1, max_uses = tonumber(ARGV[9]) or 0, budget = tonumber(ARGV[10]) or -1,
  cents = tonumber(ARGV[11]) or 0, dry = ARGV[12] == 'dry', hold_until = tonumber(ARGV[13]) or 0,
  nonce = ARGV[14] or '', quiet = ARGV[15] == 'quiet', keep = false,
}
local state = claim_check(c)
if type(state) == 'number' then
  return state
end
if c.dry then
  return state.use
end
return claim_apply(c, state)
