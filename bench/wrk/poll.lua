-- POST an empty poll: nothing new since the cursor, the steady state of a game server.
dofile(os.getenv("CMDRELAY_BENCH_DIR") .. "/wrk/common.lua")
wrk.method = "POST"
wrk.headers = bench_headers()
wrk.body = '{"consumer":"bench-server","after":' .. os.getenv("CMDRELAY_BENCH_CURSOR") .. '}'
