-- reserve.lua: set one cart line and hold the cart's stock.
-- ARGV[3..]: user, stream, sku, qty, now (ms), hold (ms), max lines.
local user, stream, sku = ARGV[3], ARGV[4], ARGV[5]
local qty, now, hold, maxlines = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local ckey = cart_key(user)

local c = load_cart(user)
local old = c.lines[sku] or 0
local others = #c.skus
if old > 0 then others = others - 1 end
local cur = nil
if qty > 0 then
  if others > 0 and c.stream ~= stream then return reply('conflict_stream', c.stream) end
  if not in_lineup(stream, sku) then return reply('not_in_lineup', sku) end
  cur = redis.call('HGET', pkey(sku), 'cur')
  if not cur then return reply('not_found', sku) end
  if others > 0 and c.cur ~= cur then return reply('conflict_currency', c.cur .. ' ' .. cur) end
  if old == 0 and others >= maxlines then return reply('full') end
end

lapse(user, c, now)

-- the lines after the change
local lines, skus = {}, {}
for _, s in ipairs(c.skus) do
  if s ~= sku then lines[s] = c.lines[s]; skus[#skus + 1] = s end
end
if qty > 0 then lines[sku] = qty; skus[#skus + 1] = sku end
table.sort(skus)

if qty == 0 and not c.held then
  -- removing a line from a cart whose hold lapsed gives nothing back
elseif c.held then
  local need = qty - old
  if need > 0 and stock_of(sku) < need then return out_of_stock(sku) end
  if need ~= 0 then change_stock(sku, -need) end
else
  for _, s in ipairs(skus) do
    if stock_of(s) < lines[s] then return out_of_stock(s) end
  end
  for _, s in ipairs(skus) do change_stock(s, -lines[s]) end
end

if #skus == 0 then
  redis.call('DEL', ckey)
  redis.call('ZREM', holds_key(), user)
  return reply('ok')
end
if qty > 0 then
  redis.call('HSET', ckey, 'i:' .. sku, qty)
else
  redis.call('HDEL', ckey, 'i:' .. sku)
end
if qty > 0 or c.held then
  if cur then redis.call('HSET', ckey, 'stream', stream, 'cur', cur) end
  local untl = now + hold
  redis.call('HSET', ckey, 'until', untl, 'held', '1')
  redis.call('ZADD', holds_key(), untl, user)
end
redis.call('PEXPIRE', ckey, hold + 7 * 86400000)
return reply('ok')
