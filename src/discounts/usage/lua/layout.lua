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
