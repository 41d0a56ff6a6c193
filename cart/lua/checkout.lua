-- checkout.lua: the whole cart becomes one order, or nothing happens.
-- ARGV[3..]: user, idempotency key, fingerprint, now (ms), order id,
-- created_at.
local user, key, fp = ARGV[3], ARGV[4], ARGV[5]
local now, id, created = tonumber(ARGV[6]), ARGV[7], ARGV[8]

local r = replay(user, key, fp)
if r then return r end
local c = load_cart(user)
if #c.skus == 0 then return reply('empty') end
-- A lapsed hold is released first, as the sweep would have; the order
-- then needs the stock again.
lapse(user, c, now)

local items = {}
for i, sku in ipairs(c.skus) do
  local qty = c.lines[sku]
  if not in_lineup(c.stream, sku) then return reply('not_in_lineup', sku) end
  local p = redis.call('HMGET', pkey(sku), 'name', 'price', 'cur', 'stock')
  if not p[1] then return reply('not_found', sku) end
  if p[3] ~= c.cur then return reply('conflict_currency', c.cur .. ' ' .. p[3]) end
  if (not c.held) and tonumber(p[4]) < qty then return out_of_stock(sku) end
  items[i] = {sku = sku, name = p[1], qty = qty, price = price_at(c.stream, sku, tonumber(p[2]), now)}
end

if not c.held then
  for _, it in ipairs(items) do change_stock(it.sku, -it.qty) end
end
local json = order_json(id, user, c.stream, items, c.cur, created)
redis.call('DEL', cart_key(user))
redis.call('ZREM', holds_key(), user)
save_order(id, user, c.stream, key, fp, json)
return reply('ok', '', json)
