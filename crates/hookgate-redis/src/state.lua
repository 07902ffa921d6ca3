-- hookgate's state backend in Redis: every call but a plain GET is this one script, so each
-- runs atomically. The key layout and the reasons for it are in redis.rs (module doc).
--
-- KEYS[1] count     hg:{t}:n            how many keys the tenant stores (expired, unswept included)
-- KEYS[2] expiries  hg:{t}:x            zset: "<scope>:<key>" scored by expiry (ms since the epoch)
-- KEYS[3] index     hg:{t}:k:<scope>    zset: the scope's keys, all scored 0, for ranges by prefix
-- KEYS[4] value     hg:{t}:v:<scope>:<key>   (updates only)
-- KEYS[5] journal   hg:{t}:j:<hook hex>      hash: seq -> recorded call and result (updates only)
--
-- ARGV[1] op: set | delete | incr | cas | keys | end
-- ARGV[2] base "hg:{t}:", ARGV[3] scope, ARGV[4] key or prefix
-- updates: ARGV[5] seq, ARGV[6] journal TTL ms, ARGV[7] most keys per tenant, then per op:
--   set    ARGV[8] value, ARGV[9] lifetime ms (0: none)
--   incr   ARGV[8] delta, ARGV[9] lifetime ms if given (0: keep), ARGV[10] lifetime ms of a new key
--   cas    ARGV[8] "1" if a value is expected, ARGV[9] expected, ARGV[10] "1" if a value is set,
--          ARGV[11] value, ARGV[12] lifetime ms
--
-- An update replies "o:<result>" (applied or replayed), "e:<error>" (Invalid, recorded too) or
-- "m:<kind>" (the journal holds another call at this position; <kind> is the recorded one's).
-- keys replies the live keys, sorted; end replies how many live keys the session had.

local SWEEP_BUDGET = 64

local count_key, expiries, index = KEYS[1], KEYS[2], KEYS[3]
local op, base, scope, key = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local function ms(n)
  return string.format('%.0f', n)
end

-- Removes up to SWEEP_BUDGET keys of the tenant whose expiry has passed (Redis has already
-- dropped their values, or drops them now) from their scope's index and from the count. A key
-- is expired when its expiry is before now, as Redis itself decides (`now > when`).
local function sweep()
  local expired = redis.call('ZRANGEBYSCORE', expiries, '-inf', '(' .. ms(now), 'LIMIT', 0, SWEEP_BUDGET)
  for _, member in ipairs(expired) do
    local sep = string.find(member, ':', 1, true)
    redis.call('DEL', base .. 'v:' .. member)
    if redis.call('ZREM', base .. 'k:' .. string.sub(member, 1, sep - 1), string.sub(member, sep + 1)) == 1 then
      redis.call('DECR', count_key)
    end
    redis.call('ZREM', expiries, member)
  end
end

sweep()

if op == 'keys' then
  local min, max = '-', '+'
  if key ~= '' then
    -- Keys are UTF-8, which never holds the byte 0xFF: every key with the prefix sorts below it.
    min, max = '[' .. key, '[' .. key .. '\255'
  end
  local live = {}
  for _, k in ipairs(redis.call('ZRANGEBYLEX', index, min, max)) do
    if redis.call('EXISTS', base .. 'v:' .. scope .. ':' .. k) == 1 then
      live[#live + 1] = k
    end
  end
  return live
end

if op == 'end' then
  local keys = redis.call('ZRANGE', index, 0, -1)
  local live = 0
  for _, k in ipairs(keys) do
    live = live + redis.call('DEL', base .. 'v:' .. scope .. ':' .. k)
    redis.call('ZREM', expiries, scope .. ':' .. k)
  end
  if #keys > 0 then
    redis.call('DEL', index)
    redis.call('DECRBY', count_key, #keys)
  end
  return live
end

local value_key, journal = KEYS[4], KEYS[5]
local seq, journal_ttl, max_keys = ARGV[5], ARGV[6], tonumber(ARGV[7])
local member = scope .. ':' .. key

-- Refuses a key the tenant does not hold yet when it holds the most it may.
local function quota()
  local held = tonumber(redis.call('GET', count_key) or '0')
  if held >= max_keys then
    return 'e:quota:' .. held .. ':' .. max_keys
  end
end

-- Stores the value with an expiry `lifetime` ms from now (0: none), indexed and counted.
local function store(value, lifetime)
  if lifetime > 0 then
    local at = ms(now + lifetime)
    redis.call('SET', value_key, value, 'PXAT', at)
    redis.call('ZADD', expiries, at, member)
  else
    redis.call('SET', value_key, value)
    redis.call('ZREM', expiries, member)
  end
  if redis.call('ZADD', index, 0, key) == 1 then
    redis.call('INCR', count_key)
  end
end

-- Deletes the key; 1 if it held a value that had not expired.
local function remove()
  local existed = redis.call('DEL', value_key)
  if redis.call('ZREM', index, key) == 1 then
    redis.call('DECR', count_key)
  end
  redis.call('ZREM', expiries, member)
  return existed
end

-- The integer `s` as Rust's i64 parser reads it, written as Redis writes integers (no '+',
-- no leading zeros, no "-0"); nil if it is not an optionally signed run of digits. Whether it
-- fits 64 bits is left to INCRBY.
local function canonical(s)
  local sign, digits = string.match(s, '^([+-]?)(%d+)$')
  if not digits then
    return nil
  end
  digits = string.gsub(digits, '^0+', '')
  if digits == '' then
    return '0'
  end
  if sign == '-' then
    return '-' .. digits
  end
  return digits
end

local function set()
  if redis.call('EXISTS', value_key) == 0 then
    local refused = quota()
    if refused then
      return refused
    end
  end
  store(ARGV[8], tonumber(ARGV[9]))
  return 'o:'
end

local function incr()
  local delta, ttl, new_lifetime = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
  local current = redis.call('GET', value_key)
  if not current then
    local refused = quota()
    if refused then
      return refused
    end
    if ttl > 0 then
      store(delta, ttl)
    else
      store(delta, new_lifetime)
    end
    return 'o:' .. delta
  end
  local number = canonical(current)
  if not number then
    return 'e:nan'
  end
  -- INCRBY does the 64-bit arithmetic (Lua numbers are doubles) and keeps the expiry.
  if number ~= current then
    redis.call('SET', value_key, number, 'KEEPTTL')
  end
  local next = redis.pcall('INCRBY', value_key, delta)
  if type(next) == 'table' and next.err then
    if number ~= current then
      redis.call('SET', value_key, current, 'KEEPTTL')
    end
    if string.find(next.err, 'overflow', 1, true) then
      return 'e:overflow:' .. number .. ':' .. delta
    end
    return 'e:nan'
  end
  if ttl > 0 then
    local at = ms(now + ttl)
    redis.call('PEXPIREAT', value_key, at)
    redis.call('ZADD', expiries, at, member)
  end
  return 'o:' .. redis.call('GET', value_key)
end

local function cas()
  local current = redis.call('GET', value_key)
  if ARGV[8] == '1' then
    if current ~= ARGV[9] then
      return 'o:0'
    end
  elseif current then
    return 'o:0'
  end
  if ARGV[10] == '1' then
    if not current then
      local refused = quota()
      if refused then
        return refused
      end
    end
    store(ARGV[11], tonumber(ARGV[12]))
  else
    remove()
  end
  return 'o:1'
end

local updates = {
  set = { 's', set },
  delete = { 'd', function() return 'o:' .. remove() end },
  incr = { 'i', incr },
  cas = { 'c', cas },
}
local update = updates[op]
if not update then
  return redis.error_reply('hookgate state script: unknown op ' .. op)
end

-- The journal: a call is its kind and the digest of its value key (tenant, scope and key).
local call = update[1] .. redis.sha1hex(value_key)
local recorded = redis.call('HGET', journal, seq)
if recorded then
  if string.sub(recorded, 1, #call) == call then
    return string.sub(recorded, #call + 1)
  end
  return 'm:' .. string.sub(recorded, 1, 1)
end
local result = update[2]()
redis.call('HSET', journal, seq, call .. result)
-- The window runs from the hook's first update: NX leaves a running window alone.
redis.call('PEXPIRE', journal, journal_ttl, 'NX')
return result
