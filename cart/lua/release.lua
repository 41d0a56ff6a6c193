-- release.lua: give back the stock of one cart whose hold has ended.
-- Safe to run from several nodes at once: the second finds nothing to do.
-- ARGV[3..]: user, now (ms).
local user, now = ARGV[3], tonumber(ARGV[4])
local score = redis.call('ZSCORE', holds_key(), user)
if (not score) or tonumber(score) > now then return reply('skip') end
local released = lapse(user, load_cart(user), now)
redis.call('ZREM', holds_key(), user)
if released then return reply('ok') end
return reply('skip')
