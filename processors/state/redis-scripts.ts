/**
 * The Lua side of the Redis store: the rules of state-rules.ts, once more in Lua, run over a
 * whole chunk of a batch per script call (redis-store.ts sends at most `APPLY_CHUNK` requests
 * per call, all chunks of a batch in one pipeline: one round trip). A script runs atomically,
 * so each request's epoch check, committed-position check, claim, segment admission and
 * running-total update is atomic (no other shard's writer can interleave within a chunk).
 *
 * Stored format 3: format 2 plus each user's covariates and the partner totals of memos, both
 * optional, so every format-2 key reads as format 3 unchanged. `epoch()` upgrades a format-2
 * store in place (its epoch moves from `epoch:2` to `epoch:3`, value kept: the counters go on
 * with it) — and a processor of the earlier version, finding no `epoch:2`, stops with
 * STATE_LOST instead of misreading a user blob with covariates. Format 1 (one hash per user
 * with text memos and one key per claim) is refused at start-up: `epoch()` names it. Every
 * key sits under the store's prefix; none has a TTL but the claim generations. The store must
 * run `maxmemory-policy noeviction`.
 *
 *   epoch:3                   string  the store's epoch (random, created once). Format 2 kept it in `epoch:2`,
 *                                     format 1 in `epoch`.
 *   p:<shardId>               string  the shard's committed position (compact form; unchanged from format 1)
 *   m:<shardId>               hash    pending memos of the shard's uncommitted records, one field per script
 *                                     call: "<smallest> <largest position of the call>" → "<position>|<memo>,…",
 *                                     memo = total before | - (first event) | ! (refused), followed, when the
 *                                     request named partners, by ":<partner total>" per partner (- for none);
 *                                     `markCommitted` drops the fields whose range ends at or before the
 *                                     committed position
 *   us:<experiment>␟<bucket>  hash    the experiment's users in bucket fnv1a32(userId) mod USER_BUCKETS (2 bytes):
 *                                     <userId> → user blob (below); listpack-encoded while a bucket holds
 *                                     ≤ 512 users, i.e. up to ~2 M users per experiment
 *   x:<experiment>            hash    the experiment's catalog: k<variant#metric> → metric id;
 *                                     d<dimension> → dimension id, D<id> → dimension; v<dim id>:<value> →
 *                                     value id, V<dim id>:<value id> → value (the admitted values, at most
 *                                     the cap per dimension; id 0 is `(other)`); c<metric> → covariate id,
 *                                     C<id> → metric; #k, #d, #v<dim id>, #c → counters
 *   cg:<generation>           hash    b → bits of the generation's claim partitions, n → claims made in it
 *   cl:<generation>:<part>    hash    eventId claims made in the generation, partition fnv1a32(eventId) mod 2^b
 *                                     (raw bytes):
 *                                     <16-byte eventId> → <8-byte claim token><varint ms since the generation began>;
 *                                     '' → '' (the partition's TTL is set)
 *
 * User blob: varint(segment count), then (dimension id, value id) varints; then, only for a user
 * whose first event carried covariates, a 0 byte (no metric id is 0), varint(covariate count)
 * and per covariate a varint covariate id and its zig-zag varint value (scaled); then per running
 * total a varint metric id and the zig-zag varint total (scaled; exact: |total| ≤ 2^52). A user
 * without covariates is stored byte for byte as in format 2.
 *
 * Claims: a generation lasts one de-dup window W (generation = floor(server ms / W)); its keys
 * expire at the end of the next generation, when every claim in them is past W. A lookup reads
 * the current and the previous generation and compares the claim's time with the server clock,
 * so a claim lasts exactly W; memory holds a claim for W to 2W. Each generation sizes its
 * partitions from the previous one's count (≈ CLAIMS_PER_PARTITION each, at least 2^12), so the
 * hashes stay small listpacks (~35 B per claim).
 *
 * Positions are compared byte by byte (at_or_before), never with Lua's "<", which
 * follows the server's LC_COLLATE and could order mixed-case text differently.
 */
import { OTHER_SEGMENT_VALUE } from '../../common/counter-layout.js';

/** Stored-format version; bump it (and the epoch key) whenever the layout above changes. */
export const STATE_FORMAT_VERSION = 3;
/** Requests per script call: a call stays short (a few ms) however large the batch. */
export const APPLY_CHUNK = 500;
/** User buckets per experiment (part of the format: changing it moves users). */
export const USER_BUCKETS = 4096;
/** Bytes per request in the fixed-width argument: eventId (16), claim token (8), eventId hash (4), user bucket (2). */
export const REQUEST_FIXED_BYTES = 30;
/** String arguments per request after the fixed-width one. */
export const REQUEST_STRING_ARGS = 6;

const CLAIM_PARTITION_MIN_BITS = 12;
const CLAIM_PARTITION_MAX_BITS = 24;
const CLAIMS_PER_PARTITION = 256;
/** Claim keys outlive their last claim by this much (ms), so clock jitter never drops a live claim. */
const CLAIM_KEY_SLACK_MS = 1000;

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

const VARINTS = `
local function varint(v)
  local out = ''
  while v >= 128 do
    local low = v % 128
    out = out .. string.char(low + 128)
    v = (v - low) / 128
  end
  return out .. string.char(v)
end
local function read_varint(s, i)
  local v, scale = 0, 1
  while true do
    local b = string.byte(s, i)
    if not b then error('the bytes end inside a number', 0) end
    i = i + 1
    if b < 128 then return v + b * scale, i end
    v = v + (b - 128) * scale
    scale = scale * 128
  end
end
`;

/**
 * KEYS: epoch (format 2), the shard's committed position, the shard's pending memos.
 * ARGV: epoch, key prefix, de-dup window (ms), segment cap, user-total limit (scaled), request
 *       count, the smallest and the largest compact position of the chunk (one comparison
 *       decides that none is fenced; the range names the call's memos), the fixed-width bytes of
 *       every request (REQUEST_FIXED_BYTES each), then per request: compact position,
 *       experimentId, userId, variant#metric (then "␝partner␞partner" when it names partners),
 *       scaled value, segments "dim␟value␞dim␟value" (then "␝metric␟value␞…" with covariates).
 * Returns {'!', epoch found} when the epoch differs; {'x', experiment, user, why} when a user the
 * chunk reads does not decode (nothing written); else {outcomes, user texts…}: outcomes
 * are comma-separated, one per request: `c` committed, `d` duplicate, `r` refused,
 * `a<i>:<memo>` applied now, `p<i>:<memo>` replay, where <i> indexes the user texts (1-based:
 * segments "dim=value␞…", then "␝metric=value␞…" when the user has covariates) and <memo> is
 * the total before ("-": first event) followed by ":<total>" per partner ("-": none).
 */
export const APPLY_BATCH_LUA = `${BYTEWISE_AT_OR_BEFORE}${VARINTS}
local epoch = redis.call('GET', KEYS[1])
if epoch ~= ARGV[1] then return {'!', epoch or ''} end
local committed = redis.call('GET', KEYS[2])
local memo_key = KEYS[3]
local prefix = ARGV[2]
local window = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
local count = tonumber(ARGV[6])
local fenced = committed and at_or_before(ARGV[7], committed)
local fixed = ARGV[9]
-- Keys are built from strings only: a number in a concatenation costs a sprintf.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local generation = math.floor(now / window)

-- Claim generations. A partition is the low <bits> bits of the eventId's hash, written into the
-- key as raw bytes (the low whole bytes, preceded by the remaining high bits as one byte).
local function claim_generation(k, create)
  local name = string.format('%.0f', k)
  local meta = prefix .. 'cg:' .. name
  local bits = redis.call('HGET', meta, 'b')
  if not bits then
    if not create then return nil end
    local before = tonumber(redis.call('HGET', prefix .. 'cg:' .. string.format('%.0f', k - 1), 'n') or '0')
    bits = ${CLAIM_PARTITION_MIN_BITS}
    while bits < ${CLAIM_PARTITION_MAX_BITS} and 2 ^ bits * ${CLAIMS_PER_PARTITION} < before do bits = bits + 1 end
    redis.call('HSET', meta, 'b', bits)
    redis.call('PEXPIREAT', meta, string.format('%.0f', (k + 2) * window + ${CLAIM_KEY_SLACK_MS}))
  end
  bits = tonumber(bits)
  local whole = math.floor(bits / 8)
  return { meta = meta, key = prefix .. 'cl:' .. name .. ':', whole = whole, high = 2 ^ (bits - 8 * whole), start = k * window }
end
local current = claim_generation(generation, false)
local previous = claim_generation(generation - 1, false)
local function partition_key(gen, o)
  local key = gen.key .. string.sub(fixed, o + 29 - gen.whole, o + 28)
  if gen.high > 1 then key = key .. string.char(string.byte(fixed, o + 28 - gen.whole) % gen.high) end
  return key
end
-- Every partition of the current generation holds a sentinel field '' written with its first
-- claim and its TTL: the lookup reads it with the claim, so the TTL is set once per partition.
local expire_at = string.format('%.0f', (generation + 2) * window + ${CLAIM_KEY_SLACK_MS})
local initialized = {}
local function current_holder(o, field)
  if not current then return nil end
  local key = partition_key(current, o)
  local found = redis.call('HMGET', key, field, '')
  if found[2] then initialized[key] = true end
  local claim = found[1]
  if claim and current.start + read_varint(claim, 9) + window > now then return string.sub(claim, 1, 8) end
  return nil
end
local function previous_holder(o, field)
  if not previous then return nil end
  local claim = redis.call('HGET', partition_key(previous, o), field)
  if claim and previous.start + read_varint(claim, 9) + window > now then return string.sub(claim, 1, 8) end
  return nil
end
local claims_made = 0
local function claim(o, field, token)
  if not current then current = claim_generation(generation, true) end
  local key = partition_key(current, o)
  local value = token .. varint(now - current.start)
  if initialized[key] then
    redis.call('HSET', key, field, value)
  else
    redis.call('HSET', key, '', '', field, value)
    redis.call('PEXPIREAT', key, expire_at)
    initialized[key] = true
  end
  claims_made = claims_made + 1
end

-- Experiment catalogs (ids as strings, cached for the call).
local catalogs = {}
local function catalog(experiment)
  local c = catalogs[experiment]
  if not c then
    c = { key = prefix .. 'x:' .. experiment, cache = {}, refs = {}, pairs = {}, by_argument = {}, checked = {} }
    catalogs[experiment] = c
  end
  return c
end
local function lookup(c, field)
  local value = c.cache[field]
  if value == nil then
    value = redis.call('HGET', c.key, field) or false
    c.cache[field] = value
  end
  return value
end
local function intern(c, field, counter, reverse, name)
  local id = lookup(c, field)
  if id then return id end
  id = tostring(redis.call('HINCRBY', c.key, counter, 1))
  if reverse then redis.call('HSET', c.key, field, id, reverse .. id, name) else redis.call('HSET', c.key, field, id) end
  c.cache[field] = id
  return id
end
local function admit(c, dimension_id, value)
  local field = 'v' .. dimension_id .. ':' .. value
  local id = lookup(c, field)
  if id then return id end
  local counter = '#v' .. dimension_id
  if tonumber(lookup(c, counter) or '0') >= cap then return '0' end
  id = tostring(redis.call('HINCRBY', c.key, counter, 1))
  redis.call('HSET', c.key, field, id, 'V' .. dimension_id .. ':' .. id, value)
  c.cache[field] = id
  c.cache[counter] = id
  return id
end

-- Users: decoded once per call, written back once per call.
local users, dirty = {}, {}
local function decode_user(user, blob)
  local n, i = read_varint(blob, 1)
  for _ = 1, 2 * n do
    local _, next_i = read_varint(blob, i)
    i = next_i
  end
  user.segments = string.sub(blob, 1, i - 1)
  if string.byte(blob, i) == 0 then
    local start = i
    n, i = read_varint(blob, i + 1)
    for _ = 1, 2 * n do
      local _, next_i = read_varint(blob, i)
      i = next_i
    end
    user.covariates = string.sub(blob, start, i - 1)
  end
  while i <= #blob do
    local metric, zigzag
    metric, i = read_varint(blob, i)
    zigzag, i = read_varint(blob, i)
    if zigzag % 2 == 0 then user.totals[metric] = zigzag / 2 else user.totals[metric] = -(zigzag + 1) / 2 end
  end
end
-- The user, or nil and why its stored bytes do not decode.
local function load_user(key, field)
  local id = key .. '\\0' .. field
  local user = users[id]
  if user then return user end
  user = { key = key, field = field, totals = {} }
  local blob = redis.call('HGET', key, field)
  if blob then
    local decoded, problem = pcall(decode_user, user, blob)
    if not decoded then return nil, problem end
  end
  users[id] = user
  return user
end
local function zigzag(v)
  if v >= 0 then return varint(v * 2) end
  return varint(-v * 2 - 1)
end
local function encode_user(user)
  local parts = { user.segments }
  if user.covariates then parts[2] = user.covariates end
  for metric, total in pairs(user.totals) do
    parts[#parts + 1] = varint(metric)
    parts[#parts + 1] = zigzag(total)
  end
  return table.concat(parts)
end
local function fix_segments(c, user, segments)
  local known = c.by_argument[segments]
  if known then
    user.segments = known
    return
  end
  local parts, n = {}, 0
  for dimension, segment_value in string.gmatch(segments, '([^\\30\\31]+)\\31([^\\30]*)') do
    local dimension_id = intern(c, 'd' .. dimension, '#d', 'D', dimension)
    local value_id = admit(c, dimension_id, segment_value)
    local pair = dimension_id .. ':' .. value_id
    local encoded = c.pairs[pair]
    if not encoded then
      encoded = varint(tonumber(dimension_id)) .. varint(tonumber(value_id))
      c.pairs[pair] = encoded
    end
    n = n + 1
    parts[n + 1] = encoded
  end
  parts[1] = varint(n)
  user.segments = table.concat(parts)
  c.by_argument[segments] = user.segments
end
-- Covariates "metric␟value␞…" (scaled integers) as the blob's covariate section; none: nothing.
local function fix_covariates(c, user, covariates)
  local parts, n = {}, 0
  for metric, value in string.gmatch(covariates, '([^\\30\\31]+)\\31([^\\30]*)') do
    n = n + 1
    parts[n] = varint(tonumber(intern(c, 'c' .. metric, '#c', 'C', metric))) .. zigzag(tonumber(value))
  end
  if n > 0 then user.covariates = '\\0' .. varint(n) .. table.concat(parts) end
end
-- A user's first applied event fixes their segments and, when it carries them, their covariates.
local function fix_user(c, user, argument)
  local separator = string.find(argument, '\\29', 1, true)
  if not separator then
    fix_segments(c, user, argument)
    return
  end
  fix_segments(c, user, string.sub(argument, 1, separator - 1))
  fix_covariates(c, user, string.sub(argument, separator + 1))
end

-- Reply texts of the users' fixed parts, "dim=value␞…" then "␝metric=value␞…" when the user has
-- covariates, one per distinct (experiment, segments, covariates).
local texts = {}
local function covariates_text(c, covariates)
  local parts = {}
  local n, i = read_varint(covariates, 2)
  for k = 1, n do
    local covariate, value
    covariate, i = read_varint(covariates, i)
    value, i = read_varint(covariates, i)
    if value % 2 == 0 then value = value / 2 else value = -(value + 1) / 2 end
    parts[k] = lookup(c, 'C' .. covariate) .. '=' .. string.format('%.0f', value)
  end
  return '\\29' .. table.concat(parts, '\\30')
end
local function segments_ref(c, user)
  local fixed_part = user.segments
  if user.covariates then fixed_part = fixed_part .. user.covariates end
  local ref = c.refs[fixed_part]
  if ref then return ref end
  local parts = {}
  local n, i = read_varint(user.segments, 1)
  for s = 1, n do
    local dimension_id, value_id
    dimension_id, i = read_varint(user.segments, i)
    value_id, i = read_varint(user.segments, i)
    local value = '${OTHER_SEGMENT_VALUE}'
    if value_id ~= 0 then value = lookup(c, 'V' .. dimension_id .. ':' .. value_id) end
    parts[s] = lookup(c, 'D' .. dimension_id) .. '=' .. value
  end
  local text = table.concat(parts, '\\30')
  if user.covariates then text = text .. covariates_text(c, user.covariates) end
  texts[#texts + 1] = text
  ref = tostring(#texts)
  c.refs[fixed_part] = ref
  return ref
end

-- Why a decoded user's fixed part (segments, covariates) names what its experiment's catalog does
-- not hold, or nil (segments_ref reads it back through the catalog). Checked once per fixed part.
local function fixed_part_problem(c, user)
  if not user.segments then return nil end
  local fixed_part = user.segments
  if user.covariates then fixed_part = fixed_part .. user.covariates end
  if c.checked[fixed_part] then return nil end
  local n, i = read_varint(user.segments, 1)
  for _ = 1, n do
    local dimension_id, value_id
    dimension_id, i = read_varint(user.segments, i)
    value_id, i = read_varint(user.segments, i)
    if not lookup(c, 'D' .. dimension_id) then return 'segment dimension id ' .. dimension_id .. ' is not in the catalog' end
    if value_id ~= 0 and not lookup(c, 'V' .. dimension_id .. ':' .. value_id) then
      return 'segment value id ' .. dimension_id .. ':' .. value_id .. ' is not in the catalog'
    end
  end
  if user.covariates then
    n, i = read_varint(user.covariates, 2)
    for _ = 1, n do
      local covariate
      covariate, i = read_varint(user.covariates, i)
      _, i = read_varint(user.covariates, i)
      if not lookup(c, 'C' .. covariate) then return 'covariate id ' .. covariate .. ' is not in the catalog' end
    end
  end
  c.checked[fixed_part] = true
  return nil
end

-- Memos: one field per script call that wrote any, "<smallest> <largest>" (the chunk's position
-- range), holding "<position>|<memo>,…". Only the fields whose range overlaps this chunk's can
-- hold one of its records (a redelivery); the next chunks of a batch skip them unread.
local new_memos, memo_list = {}, {}
local function memo(position, value)
  new_memos[position] = value
  memo_list[#memo_list + 1] = position .. '|' .. value
end
local pending = nil
if redis.call('EXISTS', memo_key) == 1 then
  local overlapping = {}
  for _, name in ipairs(redis.call('HKEYS', memo_key)) do
    local space = string.find(name, ' ', 1, true)
    if at_or_before(string.sub(name, 1, space - 1), ARGV[8]) and at_or_before(ARGV[7], string.sub(name, space + 1)) then
      overlapping[#overlapping + 1] = name
    end
  end
  if #overlapping > 0 then
    pending = {}
    for _, text in ipairs(redis.call('HMGET', memo_key, unpack(overlapping))) do
      for position, value in string.gmatch(text, '([^,|]+)|([^,]*)') do pending[position] = value end
    end
  end
end
local function memoized(position)
  local value = new_memos[position]
  if value == nil and pending then value = pending[position] end
  return value
end

-- Every user the chunk reads, read before anything is written: one whose stored bytes do not decode,
-- or name what the catalog does not hold, refuses the whole chunk unchanged ({'x', experiment, user,
-- why}), because Redis does not roll back the writes a script made before it failed. The commit
-- step then isolates that user's events, none of them claimed, and the shard goes on
-- (processors/README.md, "Corrupt state").
local request_users = {}
do
  local argi = 10
  for r = 0, count - 1 do
    if not (fenced and at_or_before(ARGV[argi], committed)) then
      local o = r * ${REQUEST_FIXED_BYTES}
      local experiment, user_id = ARGV[argi + 1], ARGV[argi + 2]
      local user, problem = load_user(prefix .. 'us:' .. experiment .. '\\31' .. string.sub(fixed, o + 29, o + 30), user_id)
      if user then problem = fixed_part_problem(catalog(experiment), user) end
      if problem then return {'x', experiment, user_id, problem} end
      request_users[r] = user
    end
    argi = argi + ${REQUEST_STRING_ARGS}
  end
end

local outcomes = {}
local argi = 10
for r = 0, count - 1 do
  local o = r * ${REQUEST_FIXED_BYTES}
  local position = ARGV[argi]
  local outcome
  if fenced and at_or_before(position, committed) then
    outcome = 'c'
  else
    local field = string.sub(fixed, o + 1, o + 16)
    local token = string.sub(fixed, o + 17, o + 24)
    local holder = current_holder(o, field) or previous_holder(o, field)
    if holder and holder ~= token then
      outcome = 'd'
    else
      local experiment = ARGV[argi + 1]
      local c = catalog(experiment)
      local user = request_users[r]
      local memo_value = memoized(position)
      if memo_value == '!' then
        outcome = 'r'
      elseif memo_value and user.segments then
        outcome = 'p' .. segments_ref(c, user) .. ':' .. memo_value
      else
        local variant_metric, partners = ARGV[argi + 3], nil
        local separator = string.find(variant_metric, '\\29', 1, true)
        if separator then
          partners = string.sub(variant_metric, separator + 1)
          variant_metric = string.sub(variant_metric, 1, separator - 1)
        end
        local metric_field = 'k' .. variant_metric
        local metric = lookup(c, metric_field)
        local before = nil
        if metric then before = user.totals[tonumber(metric)] end
        local after = (before or 0) + tonumber(ARGV[argi + 4])
        if math.abs(after) > limit then
          -- Not claimed: the event was not counted, so a replay of its dead letter is judged afresh.
          memo(position, '!')
          outcome = 'r'
        else
          if not holder then claim(o, field, token) end
          if not user.segments then fix_user(c, user, ARGV[argi + 5]) end
          local memo_text = '-'
          if before then memo_text = string.format('%.0f', before) end
          if partners then
            -- The partners' totals at this event, read before its own total moves.
            local parts = { memo_text }
            for partner in string.gmatch(partners, '[^\\30]+') do
              local partner_id = lookup(c, 'k' .. partner)
              local total = partner_id and user.totals[tonumber(partner_id)]
              if total then parts[#parts + 1] = string.format('%.0f', total) else parts[#parts + 1] = '-' end
            end
            memo_text = table.concat(parts, ':')
          end
          user.totals[tonumber(intern(c, metric_field, '#k'))] = after
          if not user.dirty then
            user.dirty = true
            dirty[#dirty + 1] = user
          end
          memo(position, memo_text)
          outcome = 'a' .. segments_ref(c, user) .. ':' .. memo_text
        end
      end
    end
  end
  outcomes[r + 1] = outcome
  argi = argi + ${REQUEST_STRING_ARGS}
end

for _, user in ipairs(dirty) do redis.call('HSET', user.key, user.field, encode_user(user)) end
if #memo_list > 0 then
  local name, text = ARGV[7] .. ' ' .. ARGV[8], table.concat(memo_list, ',')
  if pending then
    local earlier = redis.call('HGET', memo_key, name)
    if earlier then text = earlier .. ',' .. text end
  end
  redis.call('HSET', memo_key, name, text)
end
if claims_made > 0 then redis.call('HINCRBY', current.meta, 'n', claims_made) end
local reply = { table.concat(outcomes, ',') }
for i = 1, #texts do reply[i + 1] = texts[i] end
return reply
`;

/**
 * KEYS: committed position, pending memos. ARGV: compact position. Moves the committed
 * position forward only, then drops the memo fields whose range ends at or before it
 * (those memos can never be read again: a record at or before the committed position is
 * answered `committed` first).
 */
export const MARK_COMMITTED_LUA = `${BYTEWISE_AT_OR_BEFORE}
local current = redis.call('GET', KEYS[1])
if not current or not at_or_before(ARGV[1], current) then
  redis.call('SET', KEYS[1], ARGV[1])
  current = ARGV[1]
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  for _, name in ipairs(redis.call('HKEYS', KEYS[2])) do
    if at_or_before(string.sub(name, string.find(name, ' ', 1, true) + 1), current) then
      redis.call('HDEL', KEYS[2], name)
    end
  end
end
return 1
`;

/**
 * KEYS: epoch (format 3), epoch of format 2, epoch of format 1. ARGV: a new random epoch.
 * Returns the store's epoch: upgrades a format-2 store in place (its epoch, unchanged, moves
 * to the format-3 key; every format-2 key reads as format 3), creates one on an empty store;
 * nil when the store holds format 1 (refused).
 */
export const EPOCH_LUA = `
local epoch = redis.call('GET', KEYS[1])
if epoch then return epoch end
local format_two = redis.call('GET', KEYS[2])
if format_two then
  redis.call('SET', KEYS[1], format_two)
  redis.call('DEL', KEYS[2])
  return format_two
end
if redis.call('EXISTS', KEYS[3]) == 1 then return false end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`;

/** KEYS: one user bucket. Deletes it and returns how many users it held. */
export const FORGET_BUCKET_LUA = `
local users = redis.call('HLEN', KEYS[1])
redis.call('UNLINK', KEYS[1])
return users
`;
