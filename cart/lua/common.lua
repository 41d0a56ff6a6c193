-- common.lua is prepended to every script of the cart store.
-- KEYS[1] is the livecart:orders stream; every other key is derived from
-- the prefix ARGV[1], whose hash tag puts it in KEYS[1]'s slot.
-- ARGV[2] is the pub/sub channel of stock changes.
-- Every script answers {code, detail, order JSON, changes, observed}:
-- changes are {sku, stock, version, {streams}} for each stock it changed,
-- observed is {sku, stock, version} of a product found short of stock.
local P = ARGV[1]
local CHANNEL = ARGV[2]
local ORDERS = KEYS[1]
local IDEM_TTL_MS = 86400000

local function pkey(sku) return P .. 'p:' .. sku end
local function cart_key(user) return P .. 'cart:' .. user end
local function holds_key() return P .. 'holds' end
local function idem_key(user, key) return P .. 'i:' .. #user .. ':' .. user .. ':' .. key end

local changes = {}

local function reply(code, detail, order, observed)
  return {code, detail or '', order or '', changes, observed or {}}
end

-- change_stock adds delta to sku's stock, bumps its version and tells
-- every node (pub/sub) and the caller (changes).
local function change_stock(sku, delta)
  local key = pkey(sku)
  local stock = redis.call('HINCRBY', key, 'stock', delta)
  local ver = redis.call('HINCRBY', key, 'ver', 1)
  redis.call('PUBLISH', CHANNEL, ver .. ':' .. stock .. ':' .. sku)
  changes[#changes + 1] = {sku, stock, ver, redis.call('SMEMBERS', P .. 'ls:' .. sku)}
end

local function stock_of(sku)
  return tonumber(redis.call('HGET', pkey(sku), 'stock')) or 0
end

local function out_of_stock(sku)
  local v = redis.call('HMGET', pkey(sku), 'stock', 'ver')
  return reply('out_of_stock', sku, '', {sku, tonumber(v[1]) or 0, tonumber(v[2]) or 0})
end

local function in_lineup(stream, sku)
  return redis.call('SISMEMBER', P .. 'lm:' .. stream, sku) == 1
end

-- price_at is the price of sku in stream at now (ms): the pin's live price
-- while it lasts, else base.
local function price_at(stream, sku, base, now)
  local pin = redis.call('HMGET', P .. 'pin:' .. stream, 'sku', 'price', 'ends')
  if pin[1] == sku and pin[2] and pin[2] ~= '' then
    if (not pin[3]) or pin[3] == '' or now < tonumber(pin[3]) then
      return tonumber(pin[2])
    end
  end
  return base
end

-- replay answers from an idempotency record, or returns nil when the key
-- is new.
local function replay(user, key, fp)
  local rec = redis.call('GET', idem_key(user, key))
  if not rec then return nil end
  local nl = string.find(rec, '\n', 1, true)
  if string.sub(rec, 1, nl - 1) ~= fp then return reply('mismatch') end
  return reply('replay', '', string.sub(rec, nl + 1))
end

local function int(n) return string.format('%d', n) end

-- order_json writes an order exactly as clients see it.
local function order_json(id, user, stream, items, currency, created)
  local parts, total = {}, 0
  for i, it in ipairs(items) do
    parts[i] = '{"sku":' .. cjson.encode(it.sku) .. ',"name":' .. cjson.encode(it.name) ..
      ',"qty":' .. int(it.qty) .. ',"unit_price_cents":' .. int(it.price) .. '}'
    total = total + it.qty * it.price
  end
  return '{"id":' .. cjson.encode(id) .. ',"user":' .. cjson.encode(user) ..
    ',"stream":' .. cjson.encode(stream) .. ',"items":[' .. table.concat(parts, ',') ..
    '],"total_cents":' .. int(total) .. ',"currency":' .. cjson.encode(currency) ..
    ',"status":"placed","created_at":' .. cjson.encode(created) .. '}'
end

-- save_order stores a new order, its indexes, its idempotency record and
-- its fulfilment event, all in this one script.
local function save_order(id, user, stream, key, fp, json)
  redis.call('SET', P .. 'o:' .. id, json)
  redis.call('ZADD', P .. 'uo:' .. user, 0, id)
  redis.call('ZADD', P .. 'so:' .. stream, 0, id)
  redis.call('SET', idem_key(user, key), fp .. '\n' .. json, 'PX', IDEM_TTL_MS)
  redis.call('XADD', ORDERS, '*', 'event', 'placed', 'order_id', id, 'stream', stream, 'order', json)
end

-- load_cart reads a cart: lines by sku, skus sorted.
local function load_cart(user)
  local flat = redis.call('HGETALL', cart_key(user))
  local c = {stream = '', cur = '', untl = 0, held = false, lines = {}, skus = {}}
  for i = 1, #flat, 2 do
    local f, v = flat[i], flat[i + 1]
    if f == 'stream' then c.stream = v
    elseif f == 'cur' then c.cur = v
    elseif f == 'until' then c.untl = tonumber(v)
    elseif f == 'held' then c.held = (v == '1')
    elseif string.sub(f, 1, 2) == 'i:' then
      local sku = string.sub(f, 3)
      c.lines[sku] = tonumber(v)
      c.skus[#c.skus + 1] = sku
    end
  end
  table.sort(c.skus)
  return c
end

-- lapse gives back the stock of a cart whose hold has ended; the lines stay.
local function lapse(user, c, now)
  if c.held and c.untl <= now then
    for _, sku in ipairs(c.skus) do
      if redis.call('EXISTS', pkey(sku)) == 1 then change_stock(sku, c.lines[sku]) end
    end
    c.held = false
    redis.call('HSET', cart_key(user), 'held', '0')
    redis.call('ZREM', holds_key(), user)
    return true
  end
  return false
end
