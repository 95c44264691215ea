-- Claims one queue command, then acks it with the lease the claim returned.
dofile(os.getenv("CMDRELAY_BENCH_DIR") .. "/wrk/common.lua")
local channel = os.getenv("CMDRELAY_BENCH_CHANNEL")
local headers = bench_headers()
local pending = {}
local claim_body = '{"consumer":"bench-worker","max":1,"lease":60}'

request = function()
   local ack = table.remove(pending)
   if ack then
      return wrk.format("POST", "/v1/channels/" .. channel .. "/commands/" .. ack[1] .. "/ack", headers,
         '{"consumer":"bench-worker","lease":"' .. ack[2] .. '","result":{"ok":true}}')
   end
   return wrk.format("POST", "/v1/channels/" .. channel .. "/claims", headers, claim_body)
end

response = function(status, hdrs, body)
   local id, token = string.match(body, '"id":(%d+).-"token":"(%x+)"')
   if id then table.insert(pending, { id, token }) end
end
