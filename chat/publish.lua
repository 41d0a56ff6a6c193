-- Appends a publication to a stream's history and publishes it, atomically.
-- KEYS[1] meta hash {epoch, top}; KEYS[2] history list of envelopes.
-- ARGV: channel, kind, key, data (a JSON object), size, new epoch, ttl (s).
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[6])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local top = redis.call('HINCRBY', KEYS[1], 'top', 1)
local data = string.sub(ARGV[4], 1, -2) .. ',"offset":' .. top .. ',"epoch":"' .. epoch .. '"}'
local env = ARGV[2] .. ' ' .. top .. ' ' .. epoch .. ' ' .. ARGV[3] .. '\n' .. data
redis.call('RPUSH', KEYS[2], env)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
redis.call('PUBLISH', ARGV[1], env)
return env
