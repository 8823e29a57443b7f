-- Shared by every script: where the usages of one code live inside one shard.
--
-- A (shard, code) pair owns "levels"; level l has 2^l buckets, small hashes that stay in
-- listpack encoding. New usages go into the deepest level; when its target bucket is full
-- the level count grows. A lookup checks one bucket per level, all in this shard's slot.
-- The head bucket (level 0) also holds the deepest level number in the field "L".

local MAX_LEVEL = 32
-- A user's first use stores the seconds between the use and the bucket's expiry (a small
-- positive integer). A user with n >= 2 uses (rules with max_uses_per_user > 1) stores
-- -(n * MULTI + those seconds) instead: the same one field, still an integer in the listpack.
local MULTI = 4294967296

local function uses_of(value)
  if value >= 0 then
    return 1
  end
  return math.floor(-value / MULTI)
end

local function seconds_of(value)
  if value >= 0 then
    return value
  end
  return (-value) % MULTI
end

local function bucket_key(prefix, bits, level)
  if level == 0 then
    return prefix .. ':0:0'
  end
  return prefix .. ':' .. level .. ':' .. string.format('%d', bits % (2 ^ level))
end

local function deepest_level(prefix)
  local level = redis.call('HGET', prefix .. ':0:0', 'L')
  if level then
    return tonumber(level)
  end
  return 0
end

-- The bucket that holds the usage and its stored value, or nil; plus the deepest level.
local function find(prefix, field, bits)
  local top = deepest_level(prefix)
  for level = 0, top do
    local key = bucket_key(prefix, bits, level)
    local value = redis.call('HGET', key, field)
    if value then
      return key, tonumber(value), top
    end
  end
  return nil, nil, top
end

-- Store a first use of (code, user), known to be absent, in the deepest level (``top``); returns its bucket.
-- The value is the number of seconds between the usage and the bucket's expiry, which
-- keeps it a small integer; the expiry is set once, when a bucket is created.
local function insert(prefix, field, bits, used, expires, capacity, top)
  local target = bucket_key(prefix, bits, top)
  local room = capacity
  if top == 0 then
    room = capacity - 1 -- the head keeps one entry for "L"
  end
  if top < MAX_LEVEL and redis.call('HLEN', target) >= room then
    top = top + 1
    redis.call('HSET', prefix .. ':0:0', 'L', top)
    target = bucket_key(prefix, bits, top)
  end
  local expiry = redis.call('EXPIRETIME', target)
  local fresh = expiry < 0
  if fresh then
    expiry = expires
  end
  redis.call('HSET', target, field, expiry - used)
  if fresh then
    redis.call('EXPIREAT', target, expiry)
  end
  return target
end

-- Claim (code, user) unless it is there already; 1 if claimed now, 0 if it was there.
local function claim(prefix, field, bits, used, expires, capacity)
  local found, _, top = find(prefix, field, bits)
  if found then
    return 0
  end
  insert(prefix, field, bits, used, expires, capacity, top)
  return 1
end

-- Count one more use in a code's shared total and budget (a hash with "n" and "c", in cents).
local function add_to_totals(totals, cents, expires)
  redis.call('HINCRBY', totals, 'n', 1)
  redis.call('HINCRBY', totals, 'c', cents)
  if redis.call('EXPIRETIME', totals) < 0 then
    redis.call('EXPIREAT', totals, expires)
  end
end

-- Holds and give-backs. A user with only plain uses has nothing but the bucket field, whose
-- count is the number of claims ever made (the use numbers 1..n). Once one of them is a hold or
-- is given back, the user also gets an "extra" hash, prefix:x:<field>, with:
--   a            the live count: claims that still count (held or used)
--   h<use>       a live hold: "<until seconds>:<cents>:<usage payload>"
--   u<use>       a confirmed hold, kept so that confirming again answers the same body
--   e<use>       a hold that ended unconfirmed;  g<use>  a use or hold given back
--   q<use>       beside h<use>: a cart's reservation, not yet announced on the stream (settle.lua)
--   k<nonce>     the use a request with this nonce claimed: its retry finds that claim, not a refusal
-- A code with shared limits also has prefix:H, a sorted set of its holds by end time
-- ("<field>:<use>"), so that a claim can give back every ended hold of every user first.

local function extra_key(prefix, field)
  return prefix .. ':x:' .. field
end

local function parse_hold(value)
  local ends, cents, payload = string.match(value, '^(%d+):(%-?%d+):(.*)$')
  return tonumber(ends), tonumber(cents), payload
end

-- Make sure the extra hash exists; a new one starts with every earlier claim live.
local function ensure_extra(x, claims, expires)
  if redis.call('EXISTS', x) == 0 then
    redis.call('HSET', x, 'a', claims)
    redis.call('EXPIREAT', x, expires)
  end
end

-- Give back one live claim of a user: its count, and its share of the code's totals.
local function give(x, use, cents, totals, holds, field, mark)
  redis.call('HSET', x, mark .. use, '1')
  redis.call('HINCRBY', x, 'a', -1)
  if totals then
    redis.call('HINCRBY', totals, 'n', -1)
    redis.call('HINCRBY', totals, 'c', 0 - cents) -- not -cents: Lua writes -0, which Redis refuses
  end
  if holds then
    redis.call('ZREM', holds, field .. ':' .. use)
  end
end

local function end_hold(x, use, cents, totals, holds, field)
  redis.call('HDEL', x, 'h' .. use, 'q' .. use)
  give(x, use, cents, totals, holds, field, 'e')
end

-- Whether claim ``use`` still counts (held and not ended at ``now``, or used) — what a nonce may find again.
local function is_live(x, use, now)
  local held = redis.call('HGET', x, 'h' .. use)
  if held then
    return parse_hold(held) > now
  end
  if redis.call('HEXISTS', x, 'u' .. use) == 1 then
    return true
  end
  return redis.call('HEXISTS', x, 'e' .. use) == 0 and redis.call('HEXISTS', x, 'g' .. use) == 0
end

-- A cart's reservation that is not announced yet: confirm and give-back leave it to the cart.
local function is_quiet(x, use)
  return redis.call('HEXISTS', x, 'q' .. use) == 1
end

-- Give back this user's holds that ended by ``now``.
local function collect_user(x, now, totals, holds, field)
  local entries = redis.call('HGETALL', x)
  for i = 1, #entries, 2 do
    if string.byte(entries[i], 1) == 104 then -- 'h'
      local ends, cents = parse_hold(entries[i + 1])
      if ends <= now then
        end_hold(x, string.sub(entries[i], 2), cents, totals, holds, field)
      end
    end
  end
end

-- The live count without changing anything: holds that ended by ``now`` do not count.
local function live_count(x, now)
  local live = tonumber(redis.call('HGET', x, 'a'))
  local entries = redis.call('HGETALL', x)
  for i = 1, #entries, 2 do
    if string.byte(entries[i], 1) == 104 and parse_hold(entries[i + 1]) <= now then
      live = live - 1
    end
  end
  return live
end

-- Every hold of a code with shared limits that ended by ``now``: given back (or, dry, only counted).
-- Returns how many uses and cents they held.
local function collect_code(prefix, holds, totals, now, dry)
  local freed, cents_freed = 0, 0
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', holds, '-inf', now)) do
    local field, use = string.match(member, '^(.*):(%d+)$')
    local x = extra_key(prefix, field)
    local held = redis.call('HGET', x, 'h' .. use)
    if held then
      local _, cents = parse_hold(held)
      freed, cents_freed = freed + 1, cents_freed + cents
      if not dry then
        end_hold(x, use, cents, totals, holds, field)
      end
    elseif not dry then
      redis.call('ZREM', holds, member)
    end
  end
  return freed, cents_freed
end

-- One claim of (code, user), in two halves so that a cart can check every code before writing any.
-- ``c``: prefix, stream, totals, holds (nil without shared limits), field, bits, now, expires,
-- capacity, sfield and payload (the stream entry), per_user, max_uses (0: none), budget (-1: none),
-- cents, dry, hold_until (0: a use), nonce ('' none), quiet, and for a use ``keep`` (store its body).
-- ``claim_check`` gives back what has ended and decides: a number is the final answer (0: the user's
-- uses are taken, -1: the code's; a use number: the claim of this nonce, found again); otherwise a
-- state for ``claim_apply``, which writes the claim and returns its use number.
local function claim_check(c)
  local freed, cents_freed = 0, 0
  if c.holds then
    freed, cents_freed = collect_code(c.prefix, c.holds, c.totals, c.now, c.dry)
    if not c.dry then
      freed, cents_freed = 0, 0
    end
  end
  local key, value, top = find(c.prefix, c.field, c.bits)
  local s = {key = key, value = value, top = top, claims = 0, extra = false, x = extra_key(c.prefix, c.field)}
  if key then
    s.claims = uses_of(value)
    local live = s.claims
    if redis.call('EXISTS', s.x) == 1 then
      s.extra = true
      if c.dry then
        live = live_count(s.x, c.now)
      else
        collect_user(s.x, c.now, c.totals, c.holds, c.field)
        live = tonumber(redis.call('HGET', s.x, 'a'))
        if c.nonce ~= '' then
          local mine = redis.call('HGET', s.x, 'k' .. c.nonce)
          if mine and is_live(s.x, mine, c.now) then
            return tonumber(mine)
          end
        end
      end
    end
    if live >= c.per_user then
      return 0
    end
  end
  if c.totals then
    local stored = redis.call('HMGET', c.totals, 'n', 'c')
    local n, spent = (tonumber(stored[1]) or 0) - freed, (tonumber(stored[2]) or 0) - cents_freed
    if (c.max_uses > 0 and n >= c.max_uses) or (c.budget >= 0 and spent + c.cents > c.budget) then
      return -1
    end
  end
  s.use = s.claims + 1
  return s
end

local function claim_apply(c, s)
  local x, use = s.x, s.use
  if c.totals then
    add_to_totals(c.totals, c.cents, c.expires)
  end
  if s.key then
    redis.call('HSET', s.key, c.field, -(use * MULTI + seconds_of(s.value)))
  else
    insert(c.prefix, c.field, c.bits, c.now, c.expires, c.capacity, s.top)
  end
  if c.hold_until > 0 or s.extra or c.nonce ~= '' or c.keep then
    ensure_extra(x, s.claims, c.expires)
    redis.call('HINCRBY', x, 'a', 1)
  end
  if c.nonce ~= '' then
    redis.call('HSET', x, 'k' .. c.nonce, use)
  end
  local entry = {c.sfield, c.payload}
  if use > 1 or c.keep then
    entry[#entry + 1], entry[#entry + 2] = 'n', use
  end
  if c.hold_until > 0 then
    redis.call('HSET', x, 'h' .. use, c.hold_until .. ':' .. c.cents .. ':' .. c.payload)
    if c.quiet then
      redis.call('HSET', x, 'q' .. use, '1')
    end
    if c.holds then
      redis.call('ZADD', c.holds, c.hold_until, c.field .. ':' .. use)
      if redis.call('EXPIRETIME', c.holds) < 0 then
        redis.call('EXPIREAT', c.holds, c.expires)
      end
    end
    entry[#entry + 1], entry[#entry + 2], entry[#entry + 3], entry[#entry + 4] = 's', 'held', 'h', c.hold_until
  elseif c.keep then
    redis.call('HSET', x, 'u' .. use, '0:' .. c.cents .. ':' .. c.payload)
  end
  if not c.quiet then
    redis.call('XADD', c.stream, '*', unpack(entry))
  end
  return use
end
