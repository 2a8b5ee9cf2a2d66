/**
 * The Lua side of the Redis store. One script call per event, pipelined per batch, so
 * each event's claim, segment admission and running-total update is atomic (no other
 * shard's writer can interleave) while a batch costs one round trip.
 *
 * Keys (all under the store's prefix):
 *   c:<16-byte eventId>      string  claim token of the record that counted this eventId (TTL: dedup window)
 *   u:<experiment>␟<user>    hash    s = the user's segments "dim=value␞dim=value" (fixed at first event)
 *                                    t:<variant#metric> = running total, scaled integer (HINCRBY: exact int64)
 *                                    m:<variant#metric> = memos "<shard>@<compact position>=<total before|->,…"
 *                                    (TTL: user state TTL, refreshed on every event)
 *   a:<experiment>␟<dimension> set  values admitted to their own cell (at most the cap)
 *   p:<shardId>              string  the shard's committed position
 *
 * Positions are compared byte by byte (at_or_before), never with Lua's "<", which
 * follows the server's LC_COLLATE and could order mixed-case base-62 text differently.
 */

const BYTEWISE_AT_OR_BEFORE = `
local function at_or_before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a <= #b
end
`;

/**
 * KEYS: claim, user, admission key per segment dimension.
 * ARGV: claimToken, identity, dedupTtl, userTtl, cap, variantMetric, scaledValue,
 *       shardPrefix, committed ('' if none), then dimension/value pairs.
 * Returns {0} for a duplicate, {1, segments, before} when applied now, {2, segments, before} for a replay.
 */
export const APPLY_EVENT_LUA = `${BYTEWISE_AT_OR_BEFORE}
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0} end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) end
local user = KEYS[2]
local userTtl = ARGV[4]
local segments = redis.call('HGET', user, 's')
if not segments then
  local cap = tonumber(ARGV[5])
  local parts = {}
  for i = 1, #KEYS - 2 do
    local dimension = ARGV[8 + 2 * i]
    local value = ARGV[9 + 2 * i]
    local admitted = KEYS[2 + i]
    if redis.call('SISMEMBER', admitted, value) == 0 then
      if redis.call('SCARD', admitted) < cap then
        redis.call('SADD', admitted, value)
      else
        value = '(other)'
      end
    end
    redis.call('EXPIRE', admitted, userTtl)
    parts[i] = dimension .. '=' .. value
  end
  segments = table.concat(parts, '\\30')
  redis.call('HSET', user, 's', segments)
end
local memoField = 'm:' .. ARGV[6]
local memos = redis.call('HGET', user, memoField) or ''
local needle = ',' .. ARGV[2] .. '='
local haystack = ',' .. memos .. ','
local found = string.find(haystack, needle, 1, true)
if found then
  local from = found + #needle
  local to = string.find(haystack, ',', from, true)
  redis.call('EXPIRE', user, userTtl)
  return {2, segments, string.sub(haystack, from, to - 1)}
end
local kept = {}
local shardPrefix = ARGV[8]
local committed = ARGV[9]
for entry in string.gmatch(memos, '[^,]+') do
  local identity = string.match(entry, '^([^=]+)=')
  local done = committed ~= '' and string.sub(identity, 1, #shardPrefix) == shardPrefix
    and at_or_before(string.sub(identity, #shardPrefix + 1), committed)
  if not done then kept[#kept + 1] = entry end
end
local totalField = 't:' .. ARGV[6]
local before = redis.call('HGET', user, totalField) or '-'
redis.call('HINCRBY', user, totalField, ARGV[7])
kept[#kept + 1] = ARGV[2] .. '=' .. before
redis.call('HSET', user, memoField, table.concat(kept, ','))
redis.call('EXPIRE', user, userTtl)
return {1, segments, before}
`;

/** KEYS: committed key. ARGV: position. Moves the committed position forward only. */
export const MARK_COMMITTED_LUA = `${BYTEWISE_AT_OR_BEFORE}
local current = redis.call('GET', KEYS[1])
if not current or not at_or_before(ARGV[1], current) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`;
