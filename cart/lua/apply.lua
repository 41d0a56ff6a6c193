-- apply.lua applies one plan of the shop (cart.Plan) atomically. It decides
-- nothing: prices, limits, holds and the orders themselves were decided by
-- the shop in Go. It checks the plan's generic preconditions and, only when
-- every one holds, makes the plan's writes (docs/DATA.md).
--
-- KEYS[1] is the livecart:orders stream. Every other key is derived from
-- the prefix ARGV[1] ('{livecart:orders}:'), whose hash tag puts it in
-- KEYS[1]'s slot. ARGV[2] is the pub/sub channel of stock changes.
-- ARGV[3..] is the plan: parts, each a tag and its fields (RedisStore's
-- planArgs writes them; numbers are decimal strings):
--
--   I user key has_record record ttl_ms   idempotency; has_record '0': only look
--   E kind id rev|json                    precondition (kind product, showcase,
--                                         cart: rev; order: the stored JSON)
--   E record id has value                 precondition on a record (has '0':
--                                         there is none)
--   S sku delta                           stock delta
--   N key delta max                       counter delta (max '0': no bound)
--   P sku name price cur stock img desc owner org x    product write (x: a
--                                         JSON document kept as is, '': none)
--   W stream n sku1..skun pin_sku pin_price pin_ends   showcase write
--                                         (pin_sku '': no pin)
--   C user '0'                            cart delete
--   C user '1' stream cur until held ttl_ms n sku1 qty1 .. skun qtyn
--                                         cart write (until '': none)
--   O id user stream json new event       order write (event '': none)
--   R key has value due_ms ttl_ms         record write (has '0': delete;
--                                         due '': not due; ttl '0': kept)
--   L key push remove                     list change ('': none; remove first)
--   U key member                          distinct count add
--   K key value                           counter raised to value when higher
--   D key                                 forget key in the due index if its
--                                         record is gone (DueRecords' cleanup)
--
-- It answers one of
--   {'ok', changes}     changes: {sku, stock, version, {streams}} per stock written
--   {'replay', record}
--   {'stale', kind, id}
--   {'out_of_stock', sku, stock, version}
--   {'counter', key}
-- Every check comes before the first write, so a refusal writes nothing.

local P, CHANNEL, ORDERS = ARGV[1], ARGV[2], KEYS[1]

-- Parse the plan. The parts a plan rarely has stay nil until one comes,
-- so that a buy pays nothing for them.
local idem, showcase, cart, order
local expects, stock, counters = {}, {}, {}
local products, records, lists, uniques, peaks, prunes
local n, i = #ARGV, 3
while i <= n do
  local t = ARGV[i]
  if t == 'E' then
    if ARGV[i + 1] == 'record' then
      -- false matches a missing record, as GET answers it.
      local want = false
      if ARGV[i + 3] == '1' then want = ARGV[i + 4] end
      expects[#expects + 1] = {'record', ARGV[i + 2], want}
      i = i + 5
    else
      expects[#expects + 1] = {ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]}
      i = i + 4
    end
  elseif t == 'S' then
    stock[#stock + 1] = {ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 2])}
    i = i + 3
  elseif t == 'N' then
    counters[#counters + 1] = {ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])}
    i = i + 4
  elseif t == 'I' then
    idem = {ARGV[i + 1], ARGV[i + 2], ARGV[i + 3] == '1', ARGV[i + 4], ARGV[i + 5]}
    i = i + 6
  elseif t == 'P' then
    products = products or {}
    products[#products + 1] = {ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5],
      ARGV[i + 6], ARGV[i + 7], ARGV[i + 8], ARGV[i + 9], ARGV[i + 10]}
    i = i + 11
  elseif t == 'W' then
    local m = tonumber(ARGV[i + 2])
    local skus = {}
    for j = 1, m do skus[j] = ARGV[i + 2 + j] end
    local k = i + 3 + m
    showcase = {stream = ARGV[i + 1], skus = skus, pin = ARGV[k], price = ARGV[k + 1], ends = ARGV[k + 2]}
    i = k + 3
  elseif t == 'C' then
    cart = {user = ARGV[i + 1], write = ARGV[i + 2] == '1'}
    if cart.write then
      cart.stream, cart.cur, cart.untl, cart.held, cart.ttl = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
      local m = tonumber(ARGV[i + 8])
      local lines = {}
      for j = 1, 2 * m do lines[j] = ARGV[i + 8 + j] end
      cart.lines = lines
      i = i + 9 + 2 * m
    else
      i = i + 3
    end
  elseif t == 'O' then
    order = {ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5] == '1', ARGV[i + 6]}
    i = i + 7
  elseif t == 'R' then
    records = records or {}
    records[#records + 1] = {ARGV[i + 1], ARGV[i + 2] == '1', ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]}
    i = i + 6
  elseif t == 'L' then
    lists = lists or {}
    lists[#lists + 1] = {ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]}
    i = i + 4
  elseif t == 'U' then
    uniques = uniques or {}
    uniques[#uniques + 1] = {ARGV[i + 1], ARGV[i + 2]}
    i = i + 3
  elseif t == 'K' then
    peaks = peaks or {}
    peaks[#peaks + 1] = {ARGV[i + 1], ARGV[i + 2]}
    i = i + 3
  elseif t == 'D' then
    prunes = prunes or {}
    prunes[#prunes + 1] = ARGV[i + 1]
    i = i + 2
  else
    return redis.error_reply('ERR apply.lua: unknown plan part ' .. tostring(t))
  end
end

-- rev reads the revision of a hash: its rev field; 1 for a hash written
-- before revisions existed; 0 when there is no hash.
local function rev(key)
  local r = redis.call('HGET', key, 'rev')
  if r then return r end
  if redis.call('EXISTS', key) == 1 then return '1' end
  return '0'
end

-- 1. Idempotency: a stored record is the answer, and nothing else happens.
local ikey
if idem then
  ikey = P .. 'i:' .. #idem[1] .. ':' .. idem[1] .. ':' .. idem[2]
  local rec = redis.call('GET', ikey)
  if rec then return {'replay', rec} end
end

-- 2. Preconditions.
for _, e in ipairs(expects) do
  local kind, id, got = e[1], e[2], nil
  if kind == 'product' then got = rev(P .. 'p:' .. id)
  elseif kind == 'showcase' then got = redis.call('GET', P .. 'sr:' .. id) or '0'
  elseif kind == 'cart' then got = rev(P .. 'cart:' .. id)
  elseif kind == 'order' then got = redis.call('GET', P .. 'o:' .. id)
  elseif kind == 'record' then got = redis.call('GET', P .. 'r:' .. id)
  else return redis.error_reply('ERR apply.lua: unknown precondition ' .. tostring(kind)) end
  if got ~= e[3] then return {'stale', kind, id} end
end

-- 3. Stock: the product exists and keeps zero or more.
for _, s in ipairs(stock) do
  local v = redis.call('HMGET', P .. 'p:' .. s[1], 'stock', 'ver')
  if not v[1] then return {'stale', 'product', s[1]} end
  local have = tonumber(v[1])
  if have + s[3] < 0 then return {'out_of_stock', s[1], have, tonumber(v[2]) or 0} end
end

-- 4. Counters: a raise stays within its bound.
for _, c in ipairs(counters) do
  if c[4] > 0 and c[3] > 0 then
    local have = tonumber(redis.call('GET', P .. 'n:' .. c[1])) or 0
    if have + c[3] > c[4] then return {'counter', c[1]} end
  end
end

-- 5. Writes. Nothing below may fail: Redis does not undo the writes of a
-- script that stops half-way (planArgs checks in Go what could).
local changes = {}

-- call_many runs cmd on key with the values in list, a bounded number at a
-- time (Lua's unpack has a limit).
local function call_many(cmd, key, list)
  for j = 1, #list, 500 do
    redis.call(cmd, key, unpack(list, j, math.min(j + 499, #list)))
  end
end

-- stock_changed bumps sku's stock version and tells every node (pub/sub)
-- and the caller (changes).
local function stock_changed(sku, key, st)
  local ver = redis.call('HINCRBY', key, 'ver', 1)
  redis.call('PUBLISH', CHANNEL, ver .. ':' .. st .. ':' .. sku)
  changes[#changes + 1] = {sku, st, ver, redis.call('SMEMBERS', P .. 'ls:' .. sku)}
end

if products then
  for _, product in ipairs(products) do
    local sku = product[1]
    local key = P .. 'p:' .. sku
    if not redis.call('HGET', key, 'rev') and redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, 'rev', 1)
    end
    redis.call('HINCRBY', key, 'rev', 1)
    redis.call('HSET', key, 'name', product[2], 'price', product[3], 'cur', product[4], 'stock', product[5],
      'img', product[6], 'desc', product[7], 'owner', product[8], 'org', product[9])
    if product[10] ~= '' then
      redis.call('HSET', key, 'x', product[10])
    else
      redis.call('HDEL', key, 'x')
    end
    stock_changed(sku, key, tonumber(product[5]))
  end
end

if showcase then
  local stream = showcase.stream
  local lu, lm = P .. 'lu:' .. stream, P .. 'lm:' .. stream
  local new, old = {}, {}
  for _, sku in ipairs(showcase.skus) do new[sku] = true end
  for _, sku in ipairs(redis.call('SMEMBERS', lm)) do
    old[sku] = true
    if not new[sku] then redis.call('SREM', P .. 'ls:' .. sku, stream) end
  end
  for sku in pairs(new) do
    if not old[sku] then redis.call('SADD', P .. 'ls:' .. sku, stream) end
  end
  redis.call('DEL', lu, lm)
  call_many('RPUSH', lu, showcase.skus)
  call_many('SADD', lm, showcase.skus)
  local pk = P .. 'pin:' .. stream
  redis.call('DEL', pk)
  if showcase.pin ~= '' then
    redis.call('HSET', pk, 'sku', showcase.pin, 'price', showcase.price, 'ends', showcase.ends)
  end
  redis.call('INCR', P .. 'sr:' .. stream)
end

for _, s in ipairs(stock) do
  local key = P .. 'p:' .. s[1]
  stock_changed(s[1], key, redis.call('HINCRBY', key, 'stock', s[2]))
end

for _, c in ipairs(counters) do
  local key = P .. 'n:' .. c[1]
  if redis.call('INCRBY', key, c[2]) <= 0 then redis.call('DEL', key) end
end

if cart then
  local key, holds = P .. 'cart:' .. cart.user, P .. 'holds'
  if cart.write then
    local old = rev(key)
    redis.call('DEL', key)
    local f = {'stream', cart.stream, 'cur', cart.cur, 'held', cart.held, 'rev', old}
    if cart.untl ~= '' then f[#f + 1] = 'until'; f[#f + 1] = cart.untl end
    for j = 1, #cart.lines, 2 do
      f[#f + 1] = 'i:' .. cart.lines[j]
      f[#f + 1] = cart.lines[j + 1]
    end
    call_many('HSET', key, f)
    redis.call('HINCRBY', key, 'rev', 1)
    redis.call('PEXPIRE', key, cart.ttl)
    if cart.held == '1' then
      redis.call('ZADD', holds, cart.untl, cart.user)
    else
      redis.call('ZREM', holds, cart.user)
    end
  else
    -- A deleted cart keeps its revision for a week, so that a plan read
    -- before the delete cannot apply to a cart made after it.
    local old = tonumber(rev(key))
    redis.call('DEL', key)
    redis.call('HSET', key, 'rev', old + 1)
    redis.call('PEXPIRE', key, 7 * 86400000)
    redis.call('ZREM', holds, cart.user)
  end
end

if order then
  local id, user, stream, json = order[1], order[2], order[3], order[4]
  redis.call('SET', P .. 'o:' .. id, json)
  if order[5] then
    redis.call('ZADD', P .. 'uo:' .. user, 0, id)
    redis.call('ZADD', P .. 'so:' .. stream, 0, id)
  end
  if order[6] ~= '' then
    redis.call('XADD', ORDERS, '*', 'event', order[6], 'order_id', id, 'stream', stream, 'order', json)
  end
end

if records then
  local rdue = P .. 'rdue'
  for _, r in ipairs(records) do
    local k = P .. 'r:' .. r[1]
    if r[2] then
      if r[5] ~= '0' then
        redis.call('SET', k, r[3], 'PX', r[5])
      else
        redis.call('SET', k, r[3])
      end
      if r[4] ~= '' then
        redis.call('ZADD', rdue, r[4], r[1])
      else
        redis.call('ZREM', rdue, r[1])
      end
    else
      redis.call('DEL', k)
      redis.call('ZREM', rdue, r[1])
    end
  end
end

if lists then
  for _, l in ipairs(lists) do
    local k = P .. 'l:' .. l[1]
    if l[3] ~= '' then redis.call('LREM', k, 0, l[3]) end
    if l[2] ~= '' and not redis.call('LPOS', k, l[2]) then redis.call('RPUSH', k, l[2]) end
  end
end

if uniques then
  for _, u in ipairs(uniques) do
    redis.call('PFADD', P .. 'u:' .. u[1], u[2])
  end
end

-- A peak is written as given, never through Lua's number formatting.
if peaks then
  for _, pk in ipairs(peaks) do
    local k = P .. 'n:' .. pk[1]
    if tonumber(pk[2]) > (tonumber(redis.call('GET', k)) or 0) then redis.call('SET', k, pk[2]) end
  end
end

if prunes then
  for _, key in ipairs(prunes) do
    if redis.call('EXISTS', P .. 'r:' .. key) == 0 then redis.call('ZREM', P .. 'rdue', key) end
  end
end

if idem and idem[3] then
  redis.call('SET', ikey, idem[4], 'PX', idem[5])
end

return {'ok', changes}
