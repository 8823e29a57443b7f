-- How many uses of one code this shard holds: every user of every bucket of every level, with their counts.
-- KEYS: the code's head bucket in this shard.  ARGV: prefix.
local prefix = ARGV[1]
local top = deepest_level(prefix)
local total = 0
for level = 0, top do
  for bucket = 0, 2 ^ level - 1 do
    local key = prefix .. ':' .. level .. ':' .. string.format('%d', bucket)
    local entries = redis.call('HGETALL', key)
    for i = 1, #entries, 2 do
      if not (level == 0 and entries[i] == 'L') then
        total = total + uses_of(tonumber(entries[i + 1]))
      end
    end
  end
end
return total
