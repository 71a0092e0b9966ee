--[[ token-bucket: a device's rate limit.
  take_tokens(key, count, rate, burst, now): the bucket (hash: tokens, at) refills at `rate` tokens/s up
    to `burst`; takes `count` tokens and returns nil, or takes none and returns the ms to wait.
]]
local function take_tokens(key, count, rate, burst, now)
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(bucket[1]) or burst, tonumber(bucket[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
  if tokens < count then
    return math.ceil((count - tokens) * 1000 / rate)
  end
  redis.call('HSET', key, 'tokens', string.format('%.17g', tokens - count), 'at', now)
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
  return nil
end
