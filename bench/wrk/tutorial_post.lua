-- The tutorial's POST /PostCommand, a few names replaced over and over.
dofile(os.getenv("CMDRELAY_BENCH_DIR") .. "/wrk/common.lua")
wrk.method = "POST"
wrk.headers = bench_headers()
local n = 0
request = function()
   n = n + 1
   return wrk.format(nil, nil, nil, '{"bench' .. (n % 8) .. '":{"n":' .. n .. '}}')
end
