-- product.lua: create or replace a product; its stock becomes ARGV[7].
-- ARGV[3..]: sku, name, price, currency, stock, image_url, description,
-- owner sub, owner org, mode. Mode 'create' writes only when the product
-- does not exist; 'replace' only when it exists with that owner. The shop
-- decided who may write; this only checks that nothing moved since.
local sku = ARGV[3]
local key = pkey(sku)
local cur = redis.call('HMGET', key, 'name', 'owner', 'org')
local existed = cur[1] ~= false
if ARGV[12] == 'create' then
  if existed then return reply('product_changed', sku) end
elseif (not existed) or (cur[2] or '') ~= ARGV[10] or (cur[3] or '') ~= ARGV[11] then
  return reply('product_changed', sku)
end
redis.call('HSET', key, 'name', ARGV[4], 'price', ARGV[5], 'cur', ARGV[6],
  'img', ARGV[8], 'desc', ARGV[9], 'owner', ARGV[10], 'org', ARGV[11], 'stock', 0)
change_stock(sku, tonumber(ARGV[7]))
if existed then return reply('ok', 'replaced') end
return reply('ok', 'created')
