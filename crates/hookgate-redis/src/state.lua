-- hookgate's state backend in Redis: every call but a plain GET is this one script, so each
-- runs atomically. The key layout and the reasons for it are in redis.rs (module doc).
--
-- KEYS[1] count     hg:{t}:n            how many keys the tenant stores (expired, unswept included)
-- KEYS[2] expiries  hg:{t}:x            zset: "<scope>:<key>" scored by expiry (ms since the epoch)
-- KEYS[3] index     hg:{t}:k:<scope>    zset: the scope's keys, all scored 0, for ranges by prefix
-- KEYS[4] value     hg:{t}:v:<scope>:<key>   (updates only)
-- KEYS[5] journal   hg:{t}:j:<hook hex>      hash: seq -> recorded call and result (updates only)
--
-- ARGV[1] op: set | delete | incr | cas | claim | release | keys | end
-- ARGV[2] base "hg:{t}:", ARGV[3] scope, ARGV[4] key or prefix
-- updates: ARGV[5] seq, ARGV[6] journal TTL ms, ARGV[7] most keys per tenant, then per op:
--   set    ARGV[8] value, ARGV[9] lifetime ms (0: none)
--   incr   ARGV[8] delta, ARGV[9] lifetime ms if given (0: keep), ARGV[10] lifetime ms of a new key
--   cas    ARGV[8] "1" if a value is expected, ARGV[9] expected, ARGV[10] "1" if a value is set,
--          ARGV[11] value, ARGV[12] lifetime ms
--   claim  (KEYS[3], KEYS[4]: the tenant scope's index, the claim) ARGV[8] session, ARGV[9] claims
--          prefix, ARGV[10] notes prefix, ARGV[11] name, ARGV[12] max, ARGV[13] note lifetime ms
--   release (KEYS[4]: the claim, or without a name the session's value key of the notes prefix)
--          ARGV[8] session, ARGV[9] claims prefix, ARGV[10] notes prefix, ARGV[11] "1" if a name
--          is given, ARGV[12] name
--
-- An update replies "o:<result>" (applied or replayed), "e:<error>" (Invalid, recorded too) or
-- "m:<kind>" (the journal holds another call at this position; <kind> is the recorded one's).
-- claim replies "o:held", "o:taken" or "o:full"; release "o:<claims given back>".
-- keys replies the live keys, sorted; end (ARGV[5]: the session id) replies how many live keys
-- the session had, and gives back the claims its notes name that still hold it.

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

-- The value key of `k` in scope `sc`.
local function value_of(sc, k)
  return base .. 'v:' .. sc .. ':' .. k
end

-- The keys of scope `sc` that start with `prefix` and hold a value, sorted.
local function live_keys(sc, prefix)
  local min, max = '-', '+'
  if prefix ~= '' then
    -- Keys are UTF-8, which never holds the byte 0xFF: every key with the prefix sorts below it.
    min, max = '[' .. prefix, '[' .. prefix .. '\255'
  end
  local live = {}
  for _, k in ipairs(redis.call('ZRANGEBYLEX', base .. 'k:' .. sc, min, max)) do
    if redis.call('EXISTS', value_of(sc, k)) == 1 then
      live[#live + 1] = k
    end
  end
  return live
end

-- Stores `value` at `k` of scope `sc` with an expiry `lifetime` ms from now (0: none), indexed
-- and counted.
local function store_at(sc, k, value, lifetime)
  local at_key, at_member = value_of(sc, k), sc .. ':' .. k
  if lifetime > 0 then
    local at = ms(now + lifetime)
    redis.call('SET', at_key, value, 'PXAT', at)
    redis.call('ZADD', expiries, at, at_member)
  else
    redis.call('SET', at_key, value)
    redis.call('ZREM', expiries, at_member)
  end
  if redis.call('ZADD', base .. 'k:' .. sc, 0, k) == 1 then
    redis.call('INCR', count_key)
  end
end

-- Deletes `k` of scope `sc`; 1 if it held a value that had not expired.
local function remove_at(sc, k)
  local existed = redis.call('DEL', value_of(sc, k))
  if redis.call('ZREM', base .. 'k:' .. sc, k) == 1 then
    redis.call('DECR', count_key)
  end
  redis.call('ZREM', expiries, sc .. ':' .. k)
  return existed
end

if op == 'keys' then
  return live_keys(scope, key)
end

-- A note (claim and release) holds NOTE_MARK and its claim's key.
local NOTE_MARK = '\1'

if op == 'end' then
  -- ARGV[5]: the session id. Its notes' claims that still hold it are given back.
  local keys = redis.call('ZRANGE', index, 0, -1)
  local live = 0
  for _, k in ipairs(keys) do
    local value = redis.call('GET', value_of(scope, k))
    if value and string.sub(value, 1, 1) == NOTE_MARK then
      local claim = string.sub(value, 2)
      if redis.call('GET', value_of('t', claim)) == ARGV[5] then
        remove_at('t', claim)
      end
    end
    live = live + redis.call('DEL', value_of(scope, k))
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

-- The update's own key.
local function store(value, lifetime)
  store_at(scope, key, value, lifetime)
end

local function remove()
  return remove_at(scope, key)
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

-- The scope of session `id`: 's' and the id with '%', '{', '}' and ':' escaped, as redis.rs
-- escapes it.
local ESCAPES = { ['%'] = '%25', ['{'] = '%7B', ['}'] = '%7D', [':'] = '%3A' }
local function session_scope(id)
  return 's' .. (string.gsub(id, '[%%{}:]', ESCAPES))
end

-- claim and release: the pool's prefixes, and the calling session.
local session, claims, notes = ARGV[8], ARGV[9], ARGV[10]

-- Whether session `owner` notes `name`.
local function noted(owner, name)
  return redis.call('EXISTS', value_of(session_scope(owner), notes .. name)) == 1
end

-- Whether the pool's live claims, the session's claim (the update's key) among them (`absent`:
-- not stored yet), are more than `max`. Only when there are more claims than that does it look at
-- their sessions, in key order, up to the first `max` live ones besides its own, clearing the
-- orphaned claims it meets (as hookgate-state's claims.rs does).
local function over(max, absent)
  local listed = live_keys('t', claims)
  local n = #listed
  if absent then
    n = n + 1
  end
  if n <= max then
    return false
  end
  local live = 1
  for _, other in ipairs(listed) do
    if live > max then
      break
    end
    if other ~= key then
      local owner = redis.call('GET', value_of('t', other))
      if owner then
        if owner == session or noted(owner, string.sub(other, #claims + 1)) then
          live = live + 1
        else
          remove_at('t', other)
        end
      end
    end
  end
  return live > max
end

local function claim()
  local name, max, note_lifetime = ARGV[11], tonumber(ARGV[12]), tonumber(ARGV[13])
  local own, note = session_scope(session), notes .. ARGV[11]
  local owner = redis.call('GET', value_key)
  if owner and owner ~= session and noted(owner, name) then
    remove_at(own, note)
    return 'o:taken'
  end
  if owner ~= session and over(max, not owner) then
    if owner then
      remove()
    end
    remove_at(own, note)
    return 'o:full'
  end
  local added = redis.call('EXISTS', value_of(own, note)) == 0 and 1 or 0
  if not owner then
    added = added + 1
  end
  if added > 0 then
    local held = tonumber(redis.call('GET', count_key) or '0')
    if held + added > max_keys then
      return 'e:quota:' .. held .. ':' .. max_keys
    end
  end
  if owner ~= session then
    store(session, 0)
  end
  store_at(own, note, NOTE_MARK .. key, note_lifetime)
  return 'o:held'
end

local function release()
  local own = session_scope(session)
  local names = {}
  if ARGV[11] == '1' then
    names[1] = ARGV[12]
  else
    for _, noted_key in ipairs(live_keys(own, notes)) do
      names[#names + 1] = string.sub(noted_key, #notes + 1)
    end
  end
  local given_back = 0
  for _, name in ipairs(names) do
    if redis.call('GET', value_of('t', claims .. name)) == session then
      remove_at('t', claims .. name)
      given_back = given_back + 1
    end
    remove_at(own, notes .. name)
  end
  return 'o:' .. given_back
end

local updates = {
  set = { 's', set },
  delete = { 'd', function() return 'o:' .. remove() end },
  incr = { 'i', incr },
  cas = { 'c', cas },
  claim = { 'q', claim },
  release = { 'r', release },
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
