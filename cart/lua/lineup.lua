-- lineup.lua: replace a stream's lineup; unpin a product that left it.
-- ARGV[3..]: stream, then the skus in order.
local stream = ARGV[3]
for i = 4, #ARGV do
  if redis.call('EXISTS', pkey(ARGV[i])) == 0 then return reply('not_found', ARGV[i]) end
end
local lu, lm = P .. 'lu:' .. stream, P .. 'lm:' .. stream
for _, sku in ipairs(redis.call('SMEMBERS', lm)) do
  redis.call('SREM', P .. 'ls:' .. sku, stream)
end
redis.call('DEL', lu, lm)
for i = 4, #ARGV do
  redis.call('RPUSH', lu, ARGV[i])
  redis.call('SADD', lm, ARGV[i])
  redis.call('SADD', P .. 'ls:' .. ARGV[i], stream)
end
local pinned = redis.call('HGET', P .. 'pin:' .. stream, 'sku')
if pinned and redis.call('SISMEMBER', lm, pinned) == 0 then
  redis.call('DEL', P .. 'pin:' .. stream)
  return reply('ok', 'unpinned')
end
return reply('ok')
