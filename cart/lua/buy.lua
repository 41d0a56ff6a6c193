-- buy.lua: one tap. ARGV[3..]: user, idempotency key, fingerprint, stream,
-- sku, qty, now (ms), order id, created_at.
local user, key, fp, stream, sku = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local qty, now, id, created = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10], ARGV[11]

local r = replay(user, key, fp)
if r then return r end
if not in_lineup(stream, sku) then return reply('not_in_lineup', sku) end
local p = redis.call('HMGET', pkey(sku), 'name', 'price', 'cur', 'stock')
if not p[1] then return reply('not_found', sku) end
if tonumber(p[4]) < qty then return out_of_stock(sku) end

change_stock(sku, -qty)
local price = price_at(stream, sku, tonumber(p[2]), now)
local json = order_json(id, user, stream, {{sku = sku, name = p[1], qty = qty, price = price}}, p[3], created)
save_order(id, user, stream, key, fp, json)
return reply('ok', '', json)
