-- cancel.lua: cancel a placed order and give its stock back.
-- ARGV[3..]: order id.
local id = ARGV[3]
local okey = P .. 'o:' .. id
local json = redis.call('GET', okey)
if not json then return reply('not_found') end
if string.find(json, '"status":"cancelled"', 1, true) then return reply('cancelled') end
local o = cjson.decode(json)
for _, it in ipairs(o.items) do
  if redis.call('EXISTS', pkey(it.sku)) == 1 then change_stock(it.sku, it.qty) end
end
local cancelled = (string.gsub(json, '"status":"placed"', '"status":"cancelled"', 1))
redis.call('SET', okey, cancelled)
redis.call('XADD', ORDERS, '*', 'event', 'cancelled', 'order_id', id, 'stream', o.stream, 'order', cancelled)
return reply('ok', '', cancelled)
