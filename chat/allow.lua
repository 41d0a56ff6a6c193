-- Takes one token from a token bucket, kept as its theoretical arrival time
-- (GCRA): the bucket is full when that time is not after now, and each
-- token taken moves it one interval on. It applies the limit it is given.
-- KEYS[1] the bucket. ARGV: now (µs), interval (µs), burst, keep (ms): how
-- much longer than needed an idle bucket is kept.
local now = tonumber(ARGV[1])
local every = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then
  tat = now
end
if tat - now > every * (burst - 1) then
  return 0
end
tat = tat + every
local ttl = math.ceil((tat - now) / 1000) + tonumber(ARGV[4])
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', ttl)
return 1
