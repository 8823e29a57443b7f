-- Put usages of one shard back after a loss, without touching the stream; returns how many were new.
-- KEYS: the shard's stream (it routes the call to the shard's slot).
-- ARGV: capacity, now, then per usage: prefix, field, bits, used, expires, use number, totals hash ('' if none),
--       cents, status, hold end (0 if never held), payload ('' unless a hold), holds set ('' if none).
-- A user's usages come in order, given-back ones too, so use n is missing exactly when fewer than n are
-- stored; each live one put back also counts again in its code's totals, which were lost with it.
local capacity, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local added = 0
for i = 3, #ARGV, 12 do
  local prefix, field, bits = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local used, expires, use = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
  local totals, cents, status = ARGV[i + 6], tonumber(ARGV[i + 7]), ARGV[i + 8]
  local ends, payload, holds = tonumber(ARGV[i + 9]), ARGV[i + 10], ARGV[i + 11]
  local key, value, top = find(prefix, field, bits)
  local have = 0
  if key then
    have = uses_of(value)
  end
  if use > have then
    if not key then
      key = insert(prefix, field, bits, used, expires, capacity, top)
      value = tonumber(redis.call('HGET', key, field))
    end
    if use > 1 then
      redis.call('HSET', key, field, -(use * MULTI + seconds_of(value)))
    end
    local x = extra_key(prefix, field)
    local live = status == 'used' or (status == 'held' and ends > now)
    if status ~= 'used' or ends > 0 or redis.call('EXISTS', x) == 1 then
      ensure_extra(x, use - 1, expires)
      if live then
        redis.call('HINCRBY', x, 'a', 1)
      end
      if status == 'held' and live then
        redis.call('HSET', x, 'h' .. use, ends .. ':' .. cents .. ':' .. payload)
        if holds ~= '' then
          redis.call('ZADD', holds, ends, field .. ':' .. use)
          if redis.call('EXPIRETIME', holds) < 0 then
            redis.call('EXPIREAT', holds, expires)
          end
        end
      elseif status == 'held' then
        redis.call('HSET', x, 'e' .. use, '1')
      elseif status == 'used' then
        redis.call('HSET', x, 'u' .. use, ends .. ':' .. cents .. ':' .. payload)
      else
        redis.call('HSET', x, 'g' .. use, '1')
      end
    end
    if live and totals ~= '' then
      add_to_totals(totals, cents, expires)
    end
    added = added + 1
  end
end
return added
