"""The Lua script that decides one request in Redis: every limit and quota of it, atomically.

The same decision as :class:`interlink.gateway.plans.local.LocalLimiter`, on one hash per
(plan, group, consumer) — one key, so it also works on a Redis Cluster. Fields: ``t<i>`` (GCRA
TAT) or ``w<i> p<i> c<i>`` (sliding window: window index, previous and current counts) per
limit, ``d dc`` (day, count) and ``m mc`` (month, count). Nothing is written for a denied
request. The key expires once a fresh one would decide the same (or at the quota period's end).

KEYS[1]: the hash. ARGV: now, day, day_end, month, month_end (times in seconds since
``model.EPOCH``, days and months as ids), then the plan: algorithm
(``g``/``s``), n, n pairs (GCRA: interval, tolerance; window: per, requests), daily, monthly,
ttl (seconds a fresh entry is enough after the last request, without quotas).

Returns ``{allowed, index, remaining, reset_ms, retry_ms, entry}``, index counted from 0;
``entry`` is the hash's fields after the decision, in the order of the local entry
(:mod:`interlink.gateway.plans.local`): ``d dc m mc`` then the limits' fields, nil when unset.
"""

from __future__ import annotations

import hashlib
from typing import Final

SCRIPT: Final = """
local now = tonumber(ARGV[1])
local day, day_end = tonumber(ARGV[2]), tonumber(ARGV[3])
local month, month_end = tonumber(ARGV[4]), tonumber(ARGV[5])
local gcra = ARGV[6] == 'g'
local n = tonumber(ARGV[7])
local daily = tonumber(ARGV[8 + 2 * n])
local monthly = tonumber(ARGV[9 + 2 * n])
local ttl = tonumber(ARGV[10 + 2 * n])
local eps = 1e-6
local key = KEYS[1]

local fields = {'d', 'dc', 'm', 'mc'}
for i = 1, n do
  if gcra then
    fields[#fields + 1] = 't' .. i
  else
    fields[#fields + 1] = 'w' .. i
    fields[#fields + 1] = 'p' .. i
    fields[#fields + 1] = 'c' .. i
  end
end
local v = redis.call('HMGET', key, unpack(fields))
local function num(x) return tonumber(x) or 0 end
local function ms(x) if x < 0 then x = 0 end return math.ceil(x * 1000) end
local function f(x) return string.format('%.17g', x) end

-- the decision; nothing is written for a denied request
local function decide()
  local writes = {}
  local best, best_left, best_reset = -1, 4611686018427387904, 0

  -- limits: check all first, write only when the request is allowed
  local new = {}
  for i = 1, n do
    local a, b = tonumber(ARGV[6 + 2 * i]), tonumber(ARGV[7 + 2 * i])
    if gcra then
      local tat = num(v[4 + i])
      if tat < now then tat = now end
      local ahead = tat + a - now
      if ahead > b + eps then
        return {0, i - 1, 0, ms(tat - now), ms(ahead - b)}
      end
      new[i] = tat + a
    else
      local per, requests = a, b
      local window = math.floor(now / per)
      local stored = tonumber(v[2 + 3 * i])
      local previous, current = 0, 0
      if stored == window then
        previous, current = num(v[3 + 3 * i]), num(v[4 + 3 * i])
      elseif stored == window - 1 then
        previous = num(v[4 + 3 * i])
      end
      local start = window * per
      local count = previous * (per - (now - start)) / per + current
      if count + 1 > requests + eps then
        local retry
        if current + 1 > requests then
          retry = start + per + per * (1 - (requests - 1) / current) - now
        else
          retry = start + per * (1 - (requests - 1 - current) / previous) - now
        end
        local reset = start + per - now
        if current > 0 then reset = reset + per end
        if retry <= 0 then retry = eps end
        return {0, i - 1, 0, ms(reset), ms(retry)}
      end
      new[i] = {window, previous, current + 1, start, count + 1}
    end
  end

  -- quotas
  local dc, mc = 0, 0
  if daily > 0 then
    if num(v[1]) == day then dc = num(v[2]) end
    if dc >= daily then return {0, n, 0, ms(day_end - now), ms(day_end - now)} end
  end
  if monthly > 0 then
    if num(v[3]) == month then mc = num(v[4]) end
    if mc >= monthly then return {0, n + 1, 0, ms(month_end - now), ms(month_end - now)} end
  end

  -- allowed: count it everywhere
  for i = 1, n do
    local a, b = tonumber(ARGV[6 + 2 * i]), tonumber(ARGV[7 + 2 * i])
    local left, reset
    if gcra then
      local tat = new[i]
      writes[#writes + 1] = 't' .. i
      writes[#writes + 1] = f(tat)
      left = math.floor((b - tat + now) / a + eps)
      reset = tat - now
    else
      local w = new[i]
      writes[#writes + 1] = 'w' .. i
      writes[#writes + 1] = f(w[1])
      writes[#writes + 1] = 'p' .. i
      writes[#writes + 1] = f(w[2])
      writes[#writes + 1] = 'c' .. i
      writes[#writes + 1] = f(w[3])
      left = math.floor(b - w[5] + eps)
      reset = w[4] + 2 * a - now
    end
    if left < best_left then best, best_left, best_reset = i - 1, left, reset end
  end
  local expire = ttl
  if daily > 0 then
    writes[#writes + 1] = 'd'
    writes[#writes + 1] = f(day)
    writes[#writes + 1] = 'dc'
    writes[#writes + 1] = dc + 1
    local left = daily - dc - 1
    if left < best_left or best < 0 then best, best_left, best_reset = n, left, day_end - now end
    if day_end - now > expire then expire = day_end - now end
  end
  if monthly > 0 then
    writes[#writes + 1] = 'm'
    writes[#writes + 1] = f(month)
    writes[#writes + 1] = 'mc'
    writes[#writes + 1] = mc + 1
    local left = monthly - mc - 1
    if left < best_left or best < 0 then
      best, best_left, best_reset = n + 1, left, month_end - now
    end
    if month_end - now > expire then expire = month_end - now end
  end
  redis.call('HSET', key, unpack(writes))
  redis.call('PEXPIRE', key, ms(expire) + 1000)
  return {1, best, best_left, ms(best_reset), 0}
end

-- the entry as it now stands, so a worker can go on from it when Redis is slow
local result = decide()
if result[1] == 1 then result[6] = redis.call('HMGET', key, unpack(fields)) else result[6] = v end
return result
"""

SHA: Final = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()
