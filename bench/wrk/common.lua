-- Shared by the wrk scripts: the API key from the environment, JSON headers.
local key = os.getenv("CMDRELAY_BENCH_KEY")
function bench_headers()
   local h = { ["Content-Type"] = "application/json" }
   if key and key ~= "" then h["X-Api-Key"] = key end
   return h
end
