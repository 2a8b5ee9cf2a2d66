/**
 * The Lua side of the Redis store: the rules of state-rules.ts, once more in Lua. One
 * script call per event, pipelined per batch, so each event's epoch check, committed-position
 * check, claim, segment admission and running-total update is atomic (no other shard's
 * writer can interleave) while a batch costs one round trip.
 *
 * Keys (all under the store's prefix). None has a TTL except claims: user state lives as
 * long as its experiment (`forgetExperiment` drops it), and the store must run with
 * `maxmemory-policy noeviction` (checked at start-up).
 *   epoch                    string  the store's epoch (random, created once)
 *   c:<16-byte eventId>      string  claim token of the record that counted this eventId (TTL: dedup window)
 *   u:<experiment>␟<user>    hash    s = the user's segments "dim=value␞dim=value" (fixed at first event)
 *                                    t:<variant#metric> = running total, scaled integer (HINCRBY: exact int64)
 *                                    m:<variant#metric> = memos "<shard>@<compact position>=<total before|-|!>,…"
 *                                    ("-": first event, "!": refused over the user-total limit)
 *   a:<experiment>␟<dimension> set  values admitted to their own cell (at most the cap)
 *   p:<shardId>              string  the shard's committed position (compact form)
 *
 * Positions are compared byte by byte (at_or_before), never with Lua's "<", which
 * follows the server's LC_COLLATE and could order mixed-case text differently.
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

/** Reply codes of APPLY_EVENT_LUA. */
export const APPLY_REPLY = {
  epochMismatch: -1,
  duplicate: 0,
  applied: 1,
  replay: 2,
  committed: 3,
  refused: 4,
} as const;

/**
 * KEYS: claim, user, epoch, committed, then the admission key of each segment dimension.
 * ARGV: claimToken, identity, dedupTtl, cap, variantMetric, scaledValue, shardPrefix, epoch,
 *       compact position, user-total limit (scaled), then dimension/value pairs.
 * Returns {-1, epoch found}, {0} duplicate, {3} committed, {4} refused,
 *         {1, segments, before} applied now, {2, segments, before} replay.
 */
export const APPLY_EVENT_LUA = `${BYTEWISE_AT_OR_BEFORE}
local epoch = redis.call('GET', KEYS[3])
if epoch ~= ARGV[8] then return {-1, epoch or ''} end
local committed = redis.call('GET', KEYS[4])
if committed and at_or_before(ARGV[9], committed) then return {3} end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0} end
local user = KEYS[2]
local memoField = 'm:' .. ARGV[5]
local memos = redis.call('HGET', user, memoField) or ''
local needle = ',' .. ARGV[2] .. '='
local haystack = ',' .. memos .. ','
local found = string.find(haystack, needle, 1, true)
if found then
  local from = found + #needle
  local to = string.find(haystack, ',', from, true)
  local before = string.sub(haystack, from, to - 1)
  if before == '!' then return {4} end
  return {2, redis.call('HGET', user, 's') or '', before}
end
local kept = {}
local shardPrefix = ARGV[7]
for entry in string.gmatch(memos, '[^,]+') do
  local identity = string.match(entry, '^([^=]+)=')
  local done = committed and string.sub(identity, 1, #shardPrefix) == shardPrefix
    and at_or_before(string.sub(identity, #shardPrefix + 1), committed)
  if not done then kept[#kept + 1] = entry end
end
local totalField = 't:' .. ARGV[5]
local before = redis.call('HGET', user, totalField)
local after = (tonumber(before) or 0) + tonumber(ARGV[6])
if math.abs(after) > tonumber(ARGV[10]) then
  kept[#kept + 1] = ARGV[2] .. '=!'
  redis.call('HSET', user, memoField, table.concat(kept, ','))
  return {4}
end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) end
local segments = redis.call('HGET', user, 's')
if not segments then
  local cap = tonumber(ARGV[4])
  local parts = {}
  for i = 1, #KEYS - 4 do
    local dimension = ARGV[9 + 2 * i]
    local value = ARGV[10 + 2 * i]
    local admitted = KEYS[4 + i]
    if redis.call('SISMEMBER', admitted, value) == 0 then
      if redis.call('SCARD', admitted) < cap then
        redis.call('SADD', admitted, value)
      else
        value = '(other)'
      end
    end
    parts[i] = dimension .. '=' .. value
  end
  segments = table.concat(parts, '\\30')
  redis.call('HSET', user, 's', segments)
end
redis.call('HINCRBY', user, totalField, ARGV[6])
kept[#kept + 1] = ARGV[2] .. '=' .. (before or '-')
redis.call('HSET', user, memoField, table.concat(kept, ','))
return {1, segments, before or '-'}
`;

/** KEYS: committed key. ARGV: compact position. Moves the committed position forward only. */
export const MARK_COMMITTED_LUA = `${BYTEWISE_AT_OR_BEFORE}
local current = redis.call('GET', KEYS[1])
if not current or not at_or_before(ARGV[1], current) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`;
