-- The tutorial's GET /GetCommands.
dofile(os.getenv("CMDRELAY_BENCH_DIR") .. "/wrk/common.lua")
wrk.method = "GET"
wrk.headers = bench_headers()
