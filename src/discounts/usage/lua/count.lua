-- How many live claims (held or used at ``now``) of one code this shard holds, all users together.
-- KEYS: the code's head bucket in this shard.  ARGV: prefix, now.
local prefix, now = ARGV[1], tonumber(ARGV[2])
local top = deepest_level(prefix)
local total = 0
for level = 0, top do
  for bucket = 0, 2 ^ level - 1 do
    local key = prefix .. ':' .. level .. ':' .. string.format('%d', bucket)
    local entries = redis.call('HGETALL', key)
    for i = 1, #entries, 2 do
      if not (level == 0 and entries[i] == 'L') then
        local x = extra_key(prefix, entries[i])
        if redis.call('EXISTS', x) == 1 then
          total = total + live_count(x, now)
        else
          total = total + uses_of(tonumber(entries[i + 1]))
        end
      end
    end
  end
end
return total
