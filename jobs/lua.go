package jobs

// luaChunked defines chunked(cmd, key, args) for the scripts: it runs
// redis.call(cmd, key, ...) over args in slices of luaChunk values and
// returns the table replies concatenated (HMGET's missing fields stay
// false). Scripts must not unpack a table sized by a batch, a campaign or
// user input in one call: a real Redis refuses to unpack more than about
// 8,000 values ("too many results to unpack", Lua's C stack limit), which
// a batch of 4,000 assets (8,000 HSET arguments) already reaches.
// miniredis has no such limit, so only a real Redis shows it
// (TestScriptsAtMaxBatchSize). luaChunk is even, so field/value pairs are
// never split.
const luaChunked = `
local function chunked(cmd, key, args)
  local out = {}
  for i = 1, #args, 1000 do
    local r = redis.call(cmd, key, unpack(args, i, math.min(i + 999, #args)))
    if type(r) == 'table' then
      for j = 1, #r do out[#out+1] = r[j] end
    end
  end
  return out
end
`
