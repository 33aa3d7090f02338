//! The Lua scripts the Redis router runs. Each runs atomically in Redis,
//! so that a decision that reads presence and liveness (who gets a frame,
//! which dead node's invites a survivor ends) sees one consistent state.
//!
//! Keys (all under the `wd:` prefix):
//! - `wd:presence:<uid>`: hash device → node, the devices of a user;
//! - `wd:members:<node>`: set of `"<uid> <device>"` a node announced;
//! - `wd:node:<node>`: the node's heartbeat, its instance id, with a TTL;
//! - `wd:nodes`: set of the node names ever seen (until reaped);
//! - `wd:pending:<node>`: set of `"<caller> <caller device> <to> <invite id>"`,
//!   invites sent from that node to devices on other nodes that have no
//!   outcome yet.
//!
//! Channel `wd:route:<node>` carries `"<to>\n<device or empty>\n<frame>"`.

/// Removes a node's presence entries; appends its pending invites to `out`.
const REAP_FN: &str = r#"
local function reap(node, out)
  local pend = redis.call('SMEMBERS', 'wd:pending:' .. node)
  for _, e in ipairs(pend) do out[#out + 1] = e end
  local members = redis.call('SMEMBERS', 'wd:members:' .. node)
  for _, m in ipairs(members) do
    local sp = string.find(m, ' ', 1, true)
    if sp then
      local key = 'wd:presence:' .. string.sub(m, 1, sp - 1)
      local dev = string.sub(m, sp + 1)
      if redis.call('HGET', key, dev) == node then
        redis.call('HDEL', key, dev)
      end
    end
  end
  redis.call('DEL', 'wd:pending:' .. node, 'wd:members:' .. node)
end
"#;

/// The nodes other than `self` holding devices in a presence hash's
/// `entries` (those named `want`; "" = all), in first-seen order, and how
/// many devices each holds.
const PER_NODE_FN: &str = r#"
local function per_node(entries, self, want)
  local per, order = {}, {}
  for i = 1, #entries, 2 do
    local dev, nd = entries[i], entries[i + 1]
    if nd ~= self and (want == '' or want == dev) then
      if per[nd] == nil then
        per[nd] = 0
        order[#order + 1] = nd
      end
      per[nd] = per[nd] + 1
    end
  end
  return per, order
end
"#;

/// The batch script's work for a batch of ONE frame, with the same keys,
/// arguments and reply: it skips the per-batch bookkeeping (tables of
/// routes, messages per node, the final pending changes), which is most of
/// a script run's time in Redis when frames come one at a time, as an
/// invite on a quiet node does.
pub(crate) fn deliver_one() -> String {
    format!(
        "{PER_NODE_FN}{}",
        r#"
local self, to, want, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local count = 0
if node ~= '' then
  if redis.call('EXISTS', 'wd:node:' .. node) == 1
      and redis.call('PUBLISH', 'wd:route:' .. node, ARGV[5]) > 0 then
    count = 1
  end
else
  local per, order = per_node(redis.call('HGETALL', 'wd:presence:' .. to), self, want)
  for _, nd in ipairs(order) do
    if redis.call('EXISTS', 'wd:node:' .. nd) == 1
        and redis.call('PUBLISH', 'wd:route:' .. nd, ARGV[5]) > 0 then
      count = count + per[nd]
    end
  end
end
local op = ARGV[6]
if op == 'add' and count > 0 then
  redis.call('SADD', KEYS[1], ARGV[7])
elseif op == 'del' then
  redis.call('SREM', KEYS[1], ARGV[7])
end
return {count}
"#
    )
}

/// KEYS[1] this node's pending set; ARGV[1] this node, then six
/// arguments per frame: recipient uid, device filter ("" = all), the node
/// of that device if it names another node ("" = look the user up),
/// channel record, pending op ("", "add", "del"), pending entry.
///
/// Routes a whole batch of frames in one call: each frame goes to the
/// live nodes holding its recipient's devices (other than this one), and
/// every node gets ONE message with all of the batch's frames for it, in
/// batch order. Each user is looked up and each node's heartbeat checked
/// once per batch, and the pending records change with one `SADD` and one
/// `SREM`: a batch costs a few Redis calls, not several per frame.
/// Returns, per frame, how many devices the subscribed nodes hold (1 for
/// a frame to one device of a subscribed node).
pub(crate) fn deliver_batch() -> String {
    format!(
        "{PER_NODE_FN}{}",
        r#"
local self = ARGV[1]
local live, presence, msgs, order = {}, {}, {}, {}
local function alive(node)
  local a = live[node]
  if a == nil then
    a = redis.call('EXISTS', 'wd:node:' .. node) == 1
    live[node] = a
  end
  return a
end
local function devices(uid)
  local e = presence[uid]
  if e == nil then
    e = redis.call('HGETALL', 'wd:presence:' .. uid)
    presence[uid] = e
  end
  return e
end
local function add(node, rec)
  local m = msgs[node]
  if m == nil then
    m = {}
    msgs[node] = m
    order[#order + 1] = node
  end
  m[#m + 1] = rec
end
local routes, one, many = {}, {}, {}
local n = (#ARGV - 1) / 6
for f = 0, n - 1 do
  local b = 2 + f * 6
  local to, want, node, rec = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  if node ~= '' then
    if alive(node) then
      add(node, rec)
      one[f + 1] = node
    end
  else
    -- The live nodes (and device counts) a user's frames go to, worked
    -- out once per batch for each user and device filter.
    local key = to .. '\n' .. want
    local r = routes[key]
    if r == nil then
      local per, seen = per_node(devices(to), self, want)
      r = {}
      for _, nd in ipairs(seen) do
        if alive(nd) then
          r[#r + 1] = nd
          r[#r + 1] = per[nd]
        end
      end
      routes[key] = r
    end
    for i = 1, #r, 2 do add(r[i], rec) end
    many[f + 1] = r
  end
end
local subscribed = {}
for _, nd in ipairs(order) do
  subscribed[nd] = redis.call('PUBLISH', 'wd:route:' .. nd, table.concat(msgs[nd])) > 0
end
-- Pending records: the last change of an entry in the batch wins, as if
-- applied one by one; then one SADD and one SREM for the batch.
local final, changed = {}, {}
local out = {}
for f = 0, n - 1 do
  local count = 0
  local single, t = one[f + 1], many[f + 1]
  if single then
    if subscribed[single] then count = 1 end
  elseif t then
    for i = 1, #t, 2 do
      if subscribed[t[i]] then count = count + t[i + 1] end
    end
  end
  out[f + 1] = count
  local op, entry = ARGV[2 + f * 6 + 4], ARGV[2 + f * 6 + 5]
  if (op == 'add' and count > 0) or op == 'del' then
    if final[entry] == nil then changed[#changed + 1] = entry end
    final[entry] = op
  end
end
local adds, dels = {}, {}
for _, entry in ipairs(changed) do
  if final[entry] == 'add' then adds[#adds + 1] = entry else dels[#dels + 1] = entry end
end
if #adds > 0 then redis.call('SADD', KEYS[1], unpack(adds)) end
if #dels > 0 then redis.call('SREM', KEYS[1], unpack(dels)) end
return out
"#
    )
}

/// KEYS[1] presence of a user; ARGV[1] this node. 1 if a device of the
/// user is on another live node.
pub(crate) const ONLINE: &str = r#"
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local node = entries[i + 1]
  if node ~= ARGV[1] and redis.call('EXISTS', 'wd:node:' .. node) == 1 then
    return 1
  end
end
return 0
"#;

/// KEYS[1] presence of a user; ARGV[1] this node. The user's devices on
/// other live nodes.
pub(crate) const LIVE_DEVICES: &str = r#"
local entries = redis.call('HGETALL', KEYS[1])
local out, live = {}, {}
for i = 1, #entries, 2 do
  local node = entries[i + 1]
  if node ~= ARGV[1] then
    if live[node] == nil then
      live[node] = redis.call('EXISTS', 'wd:node:' .. node) == 1
    end
    if live[node] then out[#out + 1] = entries[i] end
  end
end
return out
"#;

/// KEYS[1] this node's heartbeat key; ARGV instance id, TTL (ms).
/// 1: refreshed; 0: the key had expired (other nodes may have reaped this
/// node: announce again); -1: another instance holds the name.
pub(crate) const HEARTBEAT: &str = r#"
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if v == false then return 0 end
return -1
"#;

/// ARGV: node, instance id, TTL (ms), then `"<uid> <device>"` for every
/// device of the node. Takes the heartbeat key, replaces what the node
/// announced before with these devices.
pub(crate) fn announce() -> String {
    format!(
        "{REAP_FN}{}",
        r#"
local node = ARGV[1]
redis.call('SET', 'wd:node:' .. node, ARGV[2], 'PX', ARGV[3])
redis.call('SADD', 'wd:nodes', node)
local ignored = {}
local pend = redis.call('SMEMBERS', 'wd:pending:' .. node)
reap(node, ignored)
for _, e in ipairs(pend) do redis.call('SADD', 'wd:pending:' .. node, e) end
for i = 4, #ARGV do
  local m = ARGV[i]
  local sp = string.find(m, ' ', 1, true)
  redis.call('HSET', 'wd:presence:' .. string.sub(m, 1, sp - 1), string.sub(m, sp + 1), node)
  redis.call('SADD', 'wd:members:' .. node, m)
end
return 1
"#
    )
}

/// ARGV: node. Reaps that node unconditionally (its previous instance,
/// at start-up); returns its pending invites.
pub(crate) fn reap_own() -> String {
    format!(
        "{REAP_FN}{}",
        r#"
local out = {}
reap(ARGV[1], out)
return out
"#
    )
}

/// ARGV: this node. Reaps every other known node whose heartbeat key has
/// expired and returns their pending invites. Atomic: of several
/// survivors running it, exactly one gets each dead node's invites.
pub(crate) fn reap_dead() -> String {
    format!(
        "{REAP_FN}{}",
        r#"
local out = {}
for _, node in ipairs(redis.call('SMEMBERS', 'wd:nodes')) do
  if node ~= ARGV[1] and redis.call('EXISTS', 'wd:node:' .. node) == 0 then
    reap(node, out)
    redis.call('SREM', 'wd:nodes', node)
  end
end
return out
"#
    )
}
