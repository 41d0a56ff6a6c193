-- Returns {epoch, top, envelopes} of a stream, creating its epoch if none.
-- KEYS[1] meta hash; KEYS[2] history list. ARGV: new epoch, ttl (s).
if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local top = redis.call('HGET', KEYS[1], 'top') or '0'
return {epoch, top, redis.call('LRANGE', KEYS[2], 0, -1)}
