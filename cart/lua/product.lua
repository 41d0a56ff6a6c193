-- product.lua: create or replace a product; its stock becomes ARGV[7].
-- ARGV[3..]: sku, name, price, currency, stock, image_url, description.
local sku = ARGV[3]
local key = pkey(sku)
local existed = redis.call('EXISTS', key)
redis.call('HSET', key, 'name', ARGV[4], 'price', ARGV[5], 'cur', ARGV[6],
  'img', ARGV[8], 'desc', ARGV[9], 'stock', 0)
change_stock(sku, tonumber(ARGV[7]))
if existed == 1 then return reply('ok', 'replaced') end
return reply('ok', 'created')
