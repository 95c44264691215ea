-- POST one broadcast command a request.
dofile(os.getenv("CMDRELAY_BENCH_DIR") .. "/wrk/common.lua")
wrk.method = "POST"
wrk.headers = bench_headers()
wrk.body = '{"name":"bench","data":{"player":"Player1","reason":"benchmark"},"ttl":600}'
