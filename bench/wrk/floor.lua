-- The floors: the same headers as the relay's requests.
dofile(os.getenv("CMDRELAY_BENCH_DIR") .. "/wrk/common.lua")
wrk.method = "GET"
wrk.headers = bench_headers()
