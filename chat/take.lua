-- Removes a field of a state hash and returns its value (nil when absent).
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return v
