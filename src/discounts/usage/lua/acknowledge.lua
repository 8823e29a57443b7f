-- Acknowledge copied entries and delete them, so that the stream only holds what is not copied yet.
-- KEYS: the shard's stream.  ARGV: group, entry ids...
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
return acked
