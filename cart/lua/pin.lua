-- pin.lua: pin a lineup product (with an optional live price until an end
-- time), or unpin when the sku is empty.
-- ARGV[3..]: stream, sku, price ('' for none), ends (ms, '' for none).
local stream, sku = ARGV[3], ARGV[4]
local key = P .. 'pin:' .. stream
if sku == '' then
  redis.call('DEL', key)
  return reply('ok')
end
if not in_lineup(stream, sku) then return reply('not_in_lineup', sku) end
redis.call('DEL', key)
redis.call('HSET', key, 'sku', sku, 'price', ARGV[5], 'ends', ARGV[6])
return reply('ok')
