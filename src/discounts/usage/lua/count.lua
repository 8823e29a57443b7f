-- How many usages of one code this shard holds: every bucket of every level, minus "L".
-- KEYS: the code's head bucket in this shard.  ARGV: prefix.
local prefix = ARGV[1]
local top = deepest_level(prefix)
local total = 0
for level = 0, top do
  for bucket = 0, 2 ^ level - 1 do
    total = total + redis.call('HLEN', prefix .. ':' .. level .. ':' .. string.format('%d', bucket))
  end
end
if top > 0 then
  total = total - 1
end
return total
