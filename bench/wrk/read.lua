-- GET a channel's commands: 10 a request.
dofile(os.getenv("CMDRELAY_BENCH_DIR") .. "/wrk/common.lua")
wrk.method = "GET"
wrk.headers = bench_headers()
