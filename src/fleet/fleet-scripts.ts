/**
 * The fleet's reads and writes as Lua scripts: Redis runs each whole, and whatever someone with
 * the fleet's password left in the keys is judged there, before a byte of it reaches a node.
 *
 * - A key of the wrong type (`SET asterisk-guard:{fleet}:expiry x`) cannot hold our data: it is
 *   deleted, and the script says so, instead of a MULTI that appends to the stream and then
 *   fails (the node would publish the same entry again and again).
 * - A stream whose last id lies far in the future (an entry added by hand with a made-up id) is
 *   deleted before a node publishes: its ids would otherwise leave every cursor behind, or run
 *   out (XADD fails for good at 18446744073709551615-18446744073709551615). The bans in force
 *   stay in the hash, and every reader, seeing the stream go back, takes them again.
 * - Entries and hash values longer than a node ever writes are read as their id and a reason
 *   only: a 512 MB value never leaves Redis.
 */

/** Both scripts: a key of another type than ours is deleted and named in `repaired`. */
const ENSURE = `
local repaired = {}
local function ensure(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    redis.call('DEL', key)
    table.insert(repaired, key .. ' was a ' .. t .. ', not a ' .. want)
  end
end
`;

/**
 * KEYS: stream, active (hash), expiry (sorted set). ARGV: now ms, the oldest id kept (MINID),
 * the furthest a last id may lie ahead of now (ms), then one JSON entry (encodeEntry) each.
 * Returns the repairs made.
 */
export const PUBLISH = `${ENSURE}
ensure(KEYS[1], 'stream')
ensure(KEYS[2], 'hash')
ensure(KEYS[3], 'zset')
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local ms = tonumber(string.match(info[i + 1], '^(%d+)'))
      if ms and ms > tonumber(ARGV[1]) + tonumber(ARGV[3]) then
        redis.call('DEL', KEYS[1])
        table.insert(repaired, KEYS[1] .. ' had ids ahead of now (' .. info[i + 1] .. ')')
      end
    end
  end
end
for i = 4, #ARGV do
  local e = cjson.decode(ARGV[i])
  local add = {'XADD', KEYS[1], 'MINID', '~', ARGV[2], '*', 'op', e['op'], 'node', e['node'], 'prefix', e['prefix']}
  if e['op'] == 'ban' then
    table.insert(add, 'until'); table.insert(add, e['until'])
    table.insert(add, 'reason'); table.insert(add, e['reason'])
  end
  redis.call(unpack(add))
  if e['op'] == 'ban' then
    redis.call('HSET', KEYS[2], e['prefix'], ARGV[i])
    redis.call('ZADD', KEYS[3], e['until'] == 'permanent' and '+inf' or e['until'], e['prefix'])
  else
    redis.call('HDEL', KEYS[2], e['prefix'])
    redis.call('ZREM', KEYS[3], e['prefix'])
  end
end
-- Bans that ended leave the hash, a few per publish: bounded work, bounded hash.
local ended = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, 100)
if #ended > 0 then
  redis.call('HDEL', KEYS[2], unpack(ended))
  redis.call('ZREM', KEYS[3], unpack(ended))
end
return repaired
`;

/**
 * KEYS: stream, this node's name key. ARGV: cursor, count, longest value, most fields, this
 * process's instance id, the name key's lifetime (ms).
 * Returns { first id, last id, the instance that held the name key before, repairs, entries },
 * each entry { id, fields } or { id, { '!', why } } when it is larger than any node writes.
 */
export const READ = `${ENSURE}
ensure(KEYS[1], 'stream')
ensure(KEYS[2], 'string')
local held = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[6])
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local out = {}
local longest, most = tonumber(ARGV[3]), tonumber(ARGV[4])
local range = {}
if tonumber(ARGV[2]) > 0 then
  -- After the last possible id (made up by hand) nothing can follow: XRANGE refuses the range.
  local r = redis.pcall('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
  if r['err'] == nil then range = r end
end
for _, e in ipairs(range) do
  local f, why = e[2], nil
  if #f > 2 * most then why = (#f / 2) .. ' fields' end
  for j = 1, #f do
    if not why and #f[j] > longest then why = 'a value of ' .. #f[j] .. ' bytes' end
  end
  if why then table.insert(out, {e[1], {'!', why}}) else table.insert(out, e) end
end
return {first[1] and first[1][1] or '', last[1] and last[1][1] or '', held or '', repaired, out}
`;

/**
 * KEYS: active (hash). ARGV: HSCAN cursor, count, longest value. Returns { next cursor,
 * { prefix, entry, ... }, values skipped as too long }.
 */
export const SCAN_ACTIVE = `${ENSURE}
ensure(KEYS[1], 'hash')
local r = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local out, skipped, longest = {}, 0, tonumber(ARGV[3])
for i = 1, #r[2], 2 do
  if #r[2][i] > longest or #r[2][i + 1] > longest then skipped = skipped + 1
  else table.insert(out, r[2][i]); table.insert(out, r[2][i + 1]) end
end
return {r[1], out, skipped, repaired}
`;
