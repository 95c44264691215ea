--[[
Scenarios for CommandRelay.lua against a real relay: lua5.1 scenarios.lua NAME.
Environment: CMDRELAY_URL (nginx in front of the relay), CMDRELAY_KEY (may be
empty), CMDRELAY_CONTROL (test_roblox.py's control server), CMDRELAY_MODULE.
Exits 0 when the scenario passed; prints "note: ..." lines worth keeping.
]]

local here = string.match(arg[0], "^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local R = require("roblox")
local socket = require("socket")

-- Scenario code runs in scheduler threads, where a yield may cross pcall as in Luau.
pcall = R.pcall
task = R.task

local URL = assert(os.getenv("CMDRELAY_URL"), "CMDRELAY_URL")
local KEY = os.getenv("CMDRELAY_KEY") or ""
local CONTROL = os.getenv("CMDRELAY_CONTROL")
local MODULE = assert(os.getenv("CMDRELAY_MODULE"), "CMDRELAY_MODULE")
local RETRY_AFTER = tonumber(os.getenv("CMDRELAY_RETRY_AFTER") or "2")

math.randomseed(os.time() + math.floor(socket.gettime() * 1000) % 100000)

-- --- helpers ----------------------------------------------------------------

local function check(cond, message, ...)
	if not cond then
		local extra = {}
		for i = 1, select("#", ...) do
			local v = select(i, ...)
			if type(v) == "table" then
				local ok, s = pcall(R.encode, v)
				v = ok and s or tostring(v)
			end
			extra[i] = tostring(v)
		end
		error("check failed: " .. message .. (extra[1] and (" | " .. table.concat(extra, " | ")) or ""), 2)
	end
end

local function note(fmt, ...)
	print("note: " .. string.format(fmt, ...))
end

local function channelName(tag)
	return string.format("rbx-%s-%d", tag, math.random(1, 999999999))
end

-- The producer's side (a Discord bot, a dashboard): plain HTTP, outside any game's budget.
local function api(method, path, body)
	local headers = {}
	if KEY ~= "" then
		headers["Authorization"] = "Bearer " .. KEY
	end
	local encoded = nil
	if body ~= nil then
		headers["Content-Type"] = "application/json"
		encoded = R.encode(body)
	end
	local ok, status, _, rheaders, raw = pcall(R.http, method, URL .. path, headers, encoded, 30)
	if not ok then
		return nil, status
	end
	local okDecode, decoded = pcall(R.decode, raw)
	return status, okDecode and decoded or raw, rheaders
end

-- Publishes until the relay takes it; the dedup key makes a retry after a lost
-- response harmless. Returns the stored command.
local function publish(channel, command, timeout)
	local deadline = R.now() + (timeout or 30)
	while true do
		local status, res = api("POST", "/v1/channels/" .. channel .. "/commands", command)
		if (status == 200 or status == 201) and type(res) == "table" then
			return res.commands[1]
		end
		check(status == nil or status >= 500, "publish refused", status, res)
		check(R.now() < deadline, "publish kept failing", status, res)
		task.wait(0.1)
	end
end

local function getCommand(channel, id)
	local status, res = api("GET", "/v1/channels/" .. channel .. "/commands/" .. id)
	if status == 200 then
		return res.command
	end
	return nil
end

local function control(path)
	local ok, status = pcall(R.http, "POST", CONTROL .. path, {}, "", 60)
	check(ok and status == 200, "control " .. path, status)
end

-- Consumers the relay has seen polling this channel.
local function consumersSeen(channel)
	local status, res = api("GET", "/v1/channels/" .. channel .. "/consumers")
	local seen = {}
	if status == 200 then
		for _, c in ipairs(res.consumers) do
			seen[c.consumer] = true
		end
	end
	return seen
end

local function waitUntilPolling(channel, servers)
	check(R.waitFor(function()
		local seen = consumersSeen(channel)
		for _, srv in ipairs(servers) do
			if not seen[srv.relay.consumer] then
				return false
			end
		end
		return true
	end, 10, 0.05), "every server polls the channel")
	task.wait(0.2) -- let the polls settle into their long wait
end

--[[ A game server with the module loaded as a ModuleScript and a relay made the
way a developer would. options: channel, claim, wait, lease, url, secret (use
HttpService:GetSecret for the key), jobId. ]]
local function newServer(label, options)
	options = options or {}
	local srv = R.server({
		label = label,
		jobId = options.jobId or R.guid(false),
		secrets = { cmdrelay = { KEY, "*" } },
	})
	local CommandRelay = srv:require(MODULE)
	srv.CommandRelay = CommandRelay
	local key = nil
	if KEY ~= "" then
		if options.secret then
			key = srv.HttpService:GetSecret("cmdrelay")
		else
			key = KEY
		end
	end
	srv.relay = CommandRelay.new({
		url = options.url or URL,
		key = key,
		channel = options.channel,
		claim = options.claim,
		wait = options.wait,
		lease = options.lease,
	})
	srv.ran = {} -- {id, name, t, label}
	return srv
end

local function record(srv, command, extra)
	local entry = { id = command.id, name = command.name, t = R.now(), label = srv.label }
	for k, v in pairs(extra or {}) do
		entry[k] = v
	end
	table.insert(srv.ran, entry)
end

local function ranIds(srv, name)
	local ids = {}
	for _, r in ipairs(srv.ran) do
		if name == nil or r.name == name then
			table.insert(ids, r.id)
		end
	end
	return ids
end

local function polls(srv)
	local out = {}
	for _, entry in ipairs(srv.HttpService.log) do
		if string.match(entry.path, "/poll$") then
			table.insert(out, entry)
		end
	end
	return out
end

local function contains(list, text)
	for _, line in ipairs(list) do
		if string.find(line, text, 1, true) then
			return true
		end
	end
	return false
end

local function noThreadDied()
	check(R.errors[1] == nil, "no thread died", R.errors[1])
end

local scenarios = {}

-- --- the stand-in itself ----------------------------------------------------

scenarios.stand_in_behaves_like_roblox_httpservice = function()
	local srv = R.server({ label = "S", jobId = "job", secrets = { cmdrelay = { "token-123", "*" }, narrow = { "x", "*.example.com" } } })
	local hs = srv.game:GetService("HttpService")
	check(hs == srv.HttpService, "GetService returns the service")
	check(not pcall(srv.game.GetService, srv.game, "NoSuchService"), "unknown services are an error")

	-- JSON as Roblox writes and reads it
	check(hs:JSONEncode({}) == "[]", "an empty table is []")
	check(hs:JSONEncode({ a = {} }) == '{"a":[]}', "nested empty table is []")
	check(hs:JSONEncode({ 1, 2, 3 }) == "[1,2,3]", "arrays")
	check(hs:JSONEncode(2 ^ 53) == "9007199254740992", "2^53 exactly", hs:JSONEncode(2 ^ 53))
	check(hs:JSONEncode(0.1) == "0.1", "shortest double", hs:JSONEncode(0.1))
	check(hs:JSONEncode(1 / 3) == "0.3333333333333333", "17 digits when needed", hs:JSONEncode(1 / 3))
	check(not pcall(hs.JSONEncode, hs, { 1, a = 2 }), "mixed tables are refused")
	check(not pcall(hs.JSONEncode, hs, { f = print }), "functions are refused")
	local decoded = hs:JSONDecode('{"a":null,"b":[1,null,3],"c":{},"n":9007199254740993}')
	check(decoded.a == nil and decoded.b[3] == 3 and next(decoded.c) == nil, "null is nil")
	check(decoded.n == 2 ^ 53, "numbers are doubles")
	check(not pcall(hs.JSONDecode, hs, "{bad"), "bad JSON raises")
	check(string.match(hs:GenerateGUID(), "^{%x+%-%x+%-%x+%-%x+%-%x+}$"), "GUID in braces")
	check(string.match(hs:GenerateGUID(false), "^%x+%-%x+%-%x+%-%x+%-%x+$"), "GUID without braces")

	-- Secrets: not printable, not concatenable, AddPrefix works in headers
	local secret = hs:GetSecret("cmdrelay")
	check(tostring(secret) == "Secret(cmdrelay)", "a Secret prints its name", tostring(secret))
	check(not pcall(function()
		return "Bearer " .. secret
	end), "a Secret cannot be concatenated")
	check(not pcall(hs.GetSecret, hs, "missing"), "an unknown secret raises")
	local res = hs:RequestAsync({ Url = URL .. "/v1/health", Headers = { ["X-Test"] = secret:AddPrefix("Bearer ") } })
	check(srv.HttpService.log[1].headers["x-test"] == "Bearer token-123", "the secret went out in the header")
	check(not pcall(hs.RequestAsync, hs, { Url = URL .. "/v1/health", Headers = { ["X-Test"] = hs:GetSecret("narrow") } }),
		"a secret for another domain is refused")
	check(not pcall(hs.RequestAsync, hs, { Url = URL .. "/v1/health", Method = "POST", Body = secret }),
		"a secret cannot be the body")

	-- the result table
	check(res.Success == true and res.StatusCode == 200 and res.StatusMessage == "OK", "2xx is Success", res)
	for name in pairs(res.Headers) do
		check(name == string.lower(name), "header names are lower-cased", name)
	end
	check(res.Headers["content-type"] ~= nil, "content-type present")
	check(hs:JSONDecode(res.Body).status == "ok", "body")
	local missing = hs:RequestAsync({ Url = URL .. "/v1/no-such-thing" })
	check(missing.Success == false and missing.StatusCode >= 400, "4xx is no error, just not Success", missing)

	-- what raises instead of returning
	local ok, err = pcall(hs.RequestAsync, hs, { Url = URL .. "/v1/health", Headers = { ["User-Agent"] = "x" } })
	check(not ok and string.find(err, 'Header "User-Agent" is not allowed!', 1, true), "locked header", err)
	ok, err = pcall(hs.RequestAsync, hs, { Url = URL .. "/v1/health", Method = "GET", Body = "x" })
	check(not ok, "a body on GET raises")
	local closed = socket.bind("127.0.0.1", 0)
	local _, closedPort = closed:getsockname()
	closed:close()
	ok, err = pcall(hs.RequestAsync, hs, { Url = "http://127.0.0.1:" .. closedPort .. "/" })
	check(not ok and string.find(err, "ConnectFail", 1, true), "connection refused raises", err)
	local silent = socket.bind("127.0.0.1", 0) -- accepts connections, never answers
	local _, silentPort = silent:getsockname()
	hs.Timeout = 0.5
	ok, err = pcall(hs.RequestAsync, hs, { Url = "http://127.0.0.1:" .. silentPort .. "/" })
	check(not ok and string.find(err, "Timedout", 1, true), "a timeout raises", err)
	silent:close()
	hs.Timeout = 30
	ok, err = pcall(hs.RequestAsync, hs, { Url = "http://127.0.0.1:81/" })
	check(not ok, "ports below 1024 other than 80 and 443 are blocked")

	-- the budget: 500 requests in 60 s, then an error, then room again a minute later
	local budget = R.server({ label = "B" }).HttpService
	local t0 = R.now()
	for i = 1, 500 do
		budget:RequestAsync({ Url = URL .. "/v1/health" })
	end
	ok, err = pcall(budget.RequestAsync, budget, { Url = URL .. "/v1/health" })
	check(not ok and err == "Number of requests exceeded limit", "request 501 within a minute raises", err)
	task.wait(60 - (R.now() - t0) + 0.01)
	check(budget:RequestAsync({ Url = URL .. "/v1/health" }).Success, "a minute later there is room again")

	-- task: spawn runs at once, defer and delay later, wait returns the time waited
	local order = {}
	task.defer(function()
		table.insert(order, "defer")
	end)
	task.spawn(function()
		table.insert(order, "spawn")
	end)
	table.insert(order, "after spawn")
	task.delay(0.5, function()
		table.insert(order, "delay")
	end)
	local waited = task.wait(1)
	check(table.concat(order, ",") == "spawn,after spawn,defer,delay", "task order", table.concat(order, ","))
	check(waited >= 1 and waited < 1.1, "task.wait returns the time waited", waited)

	-- pcall lets a yield through, as in Luau
	local okYield, v = pcall(function()
		task.wait(0.1)
		return "yielded"
	end)
	check(okYield and v == "yielded", "pcall across a yield")
	noThreadDied()
end

-- --- configuration ----------------------------------------------------------

scenarios.consumer_defaults_to_job_id_or_a_studio_id = function()
	local channel = channelName("cfg")
	local live = newServer("live", { channel = channel, jobId = "8f7e6d5c-1111-2222-3333-444455556666" })
	check(live.relay.consumer == "8f7e6d5c-1111-2222-3333-444455556666", "a live server is its JobId", live.relay.consumer)
	local studio = newServer("studio", { channel = channel, jobId = "" })
	check(string.match(studio.relay.consumer, "^studio%-%x+%-%x+%-%x+%-%x+%-%x+$"), "Studio gets a generated id",
		studio.relay.consumer)
	local other = newServer("studio2", { channel = channel, jobId = "" })
	check(other.relay.consumer ~= studio.relay.consumer, "each Studio session its own")
	check(live.relay.budget == 300, "default share is 60% of 500", live.relay.budget)

	local CR = live.CommandRelay
	check(not pcall(CR.new, { url = URL, channel = "bad channel!" }), "a bad channel is refused at once")
	check(not pcall(CR.new, { url = "ftp://x", channel = "ok" }), "a bad url is refused")
	check(not pcall(CR.new, { url = URL, channel = "ok", wait = 30 }), "wait over 25 is refused")
	check(not pcall(CR.new, { url = URL, channel = "ok", claim = 1.5 }), "claim must be an integer")
	check(CR.new({ url = URL, channel = "ok", budgetShare = 0.2 }).budget == 100, "budgetShare")

	-- Both servers poll the relay under their ids; the Studio one through a Secret.
	local secretServer = newServer("secret", { channel = channel, jobId = "", secret = true })
	live.relay:start()
	secretServer.relay:start()
	waitUntilPolling(channel, { live, secretServer })
	if KEY ~= "" then
		local auth = polls(secretServer)[1].headers["authorization"]
		check(auth == "Bearer " .. KEY, "Secret:AddPrefix built the header")
	end
	-- A wrong key is reported and retried with backoff, without ever being logged.
	local wrong = nil
	if KEY ~= "" then
		wrong = newServer("wrong", { channel = channel })
		wrong.relay = wrong.CommandRelay.new({ url = URL, key = "not-a-real-token", channel = channel })
		wrong.relay:start()
		check(R.waitFor(function()
			return #wrong.HttpService.log >= 3
		end, 60), "it keeps trying")
		check(wrong.HttpService.log[1].status == 401, "the relay refuses it", wrong.HttpService.log[1].status)
		check(contains(wrong.warnings, "401 unauthorized"), "the refusal is logged", wrong.warnings)
		check(wrong.HttpService.log[3].t - wrong.HttpService.log[2].finished >= 1, "with backoff")
		wrong.relay:stop()
	end
	for _, srv in ipairs({ live, secretServer, wrong }) do
		for _, line in ipairs(srv.warnings) do
			check(KEY == "" or not string.find(line, KEY, 1, true), "the key never appears in a log line", line)
			check(not string.find(line, "not-a-real-token", 1, true), "nor a wrong one", line)
		end
	end
	live.relay:stop()
	secretServer.relay:stop()
	noThreadDied()
end

-- --- delivery ---------------------------------------------------------------

scenarios.broadcast_reaches_three_servers_at_once = function()
	local channel = channelName("bcast")
	local servers = {}
	for i, label in ipairs({ "A", "B", "C" }) do
		local srv = newServer(label, { channel = channel, secret = (i == 1) })
		srv.relay:on("announce", function(data, command)
			record(srv, command, { text = data.text })
			return { server = label, heard = data.text }
		end)
		srv.relay:start()
		servers[i] = srv
	end
	waitUntilPolling(channel, servers)

	local t0 = R.now()
	local command = publish(channel, { name = "announce", data = { text = "hello" } })
	check(R.waitFor(function()
		for _, srv in ipairs(servers) do
			if srv.ran[1] == nil then
				return false
			end
		end
		return true
	end, 5), "all three servers ran it")
	local worst = 0
	for _, srv in ipairs(servers) do
		check(#srv.ran == 1 and srv.ran[1].id == command.id and srv.ran[1].text == "hello", "ran once with its data", srv.ran)
		worst = math.max(worst, srv.ran[1].t - t0)
	end
	note("slowest of three servers ran the broadcast %.0f ms after the publish", worst * 1000)
	check(worst < 1.0, "long polling delivers at once, not on the next poll", worst)

	-- The acks ride on each server's next poll.
	local acks
	check(R.waitFor(function()
		local c = getCommand(channel, command.id)
		acks = c and c.acks or {}
		return #acks == 3
	end, 5, 0.05), "three acks recorded", acks)
	for _, srv in ipairs(servers) do
		local found = nil
		for _, ack in ipairs(acks) do
			if ack.consumer == srv.relay.consumer then
				found = ack
			end
		end
		check(found and found.result.server == srv.label and found.result.heard == "hello", "ack result of " .. srv.label, acks)
		for _, entry in ipairs(srv.HttpService.log) do
			check(string.match(entry.path, "/poll$"), "a poll carried the ack, no separate request", entry.path)
		end
	end
	for _, srv in ipairs(servers) do
		srv.relay:stop()
	end
	noThreadDied()
end

scenarios.queue_command_runs_on_exactly_one_server = function()
	local channel = channelName("queue")
	local servers = {}
	for i, label in ipairs({ "A", "B", "C" }) do
		local srv = newServer(label, { channel = channel, claim = 4 })
		srv.relay:on("job", function(data, command)
			record(srv, command, { n = data.n })
			task.wait(0.05) -- some work, so the others get a chance to claim
			return { by = label, n = data.n }
		end)
		srv.relay:start()
		servers[i] = srv
	end
	waitUntilPolling(channel, servers)

	local batch = {}
	for n = 1, 20 do
		batch[n] = { name = "job", mode = "queue", data = { n = n } }
	end
	local status, res = api("POST", "/v1/channels/" .. channel .. "/commands", batch)
	check(status == 201 and #res.commands == 20, "batch published", status, res)
	local function total()
		local n = 0
		for _, srv in ipairs(servers) do
			n = n + #srv.ran
		end
		return n
	end
	check(R.waitFor(function()
		return total() >= 20
	end, 10), "all 20 ran", total())
	task.wait(1) -- room for a duplicate to show up

	local runs, who = {}, {}
	local per = {}
	for _, srv in ipairs(servers) do
		per[#per + 1] = srv.label .. "=" .. #srv.ran
		for _, r in ipairs(srv.ran) do
			runs[r.id] = (runs[r.id] or 0) + 1
			who[r.id] = srv.label
		end
	end
	note("runs per server: %s", table.concat(per, " "))
	check(total() == 20, "exactly 20 runs", total())
	for _, c in ipairs(res.commands) do
		check(runs[c.id] == 1, "command ran exactly once", c.id, runs[c.id])
	end
	check(R.waitFor(function()
		for _, c in ipairs(res.commands) do
			local got = getCommand(channel, c.id)
			if not (got and got.state == "done") then
				return false
			end
		end
		return true
	end, 5, 0.1), "every command done")
	for _, c in ipairs(res.commands) do
		local got = getCommand(channel, c.id)
		check(got.result.by == who[c.id] and got.result.n == c.data.n, "result from the server that ran it", got)
	end
	for _, srv in ipairs(servers) do
		srv.relay:stop()
	end
	noThreadDied()
end

scenarios.handler_error_is_acked_with_its_message = function()
	local channel = channelName("error")
	local srv = newServer("A", { channel = channel, claim = 2 })
	srv.relay:on("explode", function(data, command)
		record(srv, command)
		error("boom: no player named " .. tostring(data.player))
	end)
	srv.relay:on("after", function(data, command)
		record(srv, command)
		return { fine = true }
	end)
	srv.relay:start()
	waitUntilPolling(channel, { srv })

	local b = publish(channel, { name = "explode", data = { player = "Nobody" } })
	local q = publish(channel, { name = "explode", mode = "queue", data = { player = "Ghost" } })
	local u = publish(channel, { name = "nobody-handles-this" })
	local after = publish(channel, { name = "after" })
	check(R.waitFor(function()
		return #ranIds(srv, "after") == 1
	end, 5), "the next command still runs")

	local bc, qc, uc
	check(R.waitFor(function()
		bc, qc, uc = getCommand(channel, b.id), getCommand(channel, q.id), getCommand(channel, u.id)
		return #bc.acks == 1 and qc.state == "done" and #uc.acks == 1
	end, 5, 0.05), "errors are acked", bc, qc)
	check(type(bc.acks[1].result.error) == "string" and string.find(bc.acks[1].result.error, "boom: no player named Nobody", 1, true),
		"broadcast ack carries the message", bc.acks[1])
	check(string.find(qc.result.error, "boom: no player named Ghost", 1, true), "queue result carries the message", qc.result)
	check(string.find(uc.acks[1].result.error, "no handler", 1, true), "an unknown name is acked as such", uc.acks[1])
	check(contains(srv.warnings, "boom: no player named Nobody"), "the error was logged", srv.warnings)
	local ac = getCommand(channel, after.id)
	check(R.waitFor(function()
		ac = getCommand(channel, after.id)
		return #ac.acks == 1
	end, 5, 0.05) and ac.acks[1].result.fine == true, "the command after it acked normally", ac)
	srv.relay:stop()
	noThreadDied()
end

scenarios.big_results_and_many_acks_never_stall_the_loop = function()
	local channel = channelName("big")
	local srv = newServer("A", { channel = channel })
	local blob = string.rep("x", 5000)
	srv.relay:on("big", function(data, command)
		record(srv, command)
		return { blob = blob, n = data.n }
	end)
	srv.relay:on("huge", function(data, command)
		record(srv, command)
		return string.rep("y", 20000)
	end)
	srv.relay:on("odd", function(data, command)
		record(srv, command)
		return { callback = print }
	end)
	srv.relay:start()
	waitUntilPolling(channel, { srv })

	-- 150 acks of 5 KB: more than one poll may carry, by count (100) and by size (64 KiB).
	local ids = {}
	for b = 0, 1 do
		local batch = {}
		for i = 1, 75 do
			batch[i] = { name = "big", data = { n = b * 75 + i } }
		end
		local status, res = api("POST", "/v1/channels/" .. channel .. "/commands", batch)
		check(status == 201, "batch published", status, res)
		for _, c in ipairs(res.commands) do
			table.insert(ids, c.id)
		end
	end
	local huge = publish(channel, { name = "huge" })
	local odd = publish(channel, { name = "odd" })
	check(R.waitFor(function()
		return #srv.ran == 152
	end, 30), "all ran", #srv.ran)
	check(R.waitFor(function()
		local c = getCommand(channel, odd.id)
		return c and #c.acks == 1
	end, 60, 0.2), "the last ack arrived")
	for _, id in ipairs(ids) do
		local c = getCommand(channel, id)
		check(#c.acks == 1 and c.acks[1].result.blob == blob, "ack with its result", id)
	end
	local hc, oc = getCommand(channel, huge.id), getCommand(channel, odd.id)
	check(hc.acks[1].result.error == "result is over 16 KiB", "a result over 16 KiB is acked as an error", hc.acks[1])
	check(oc.acks[1].result.error == "result is not JSON", "a result that is not JSON is acked as an error", oc.acks[1])
	local largest, most = 0, 0
	for _, entry in ipairs(polls(srv)) do
		check(entry.status == 200, "no poll was refused", entry.status, entry.response)
		largest = math.max(largest, #entry.request)
		most = math.max(most, #R.decode(entry.request).acks)
	end
	note("%d polls; largest body %d bytes, most acks in one poll %d", #polls(srv), largest, most)
	check(largest <= 65536 and most <= 100, "every poll within the relay's limits")
	srv.relay:stop()
	noThreadDied()
end

-- --- failures ---------------------------------------------------------------

scenarios.relay_restart_mid_loop_loses_and_repeats_nothing = function()
	local channel = channelName("restart")
	local servers = {}
	for i, label in ipairs({ "A", "B", "C" }) do
		local srv = newServer(label, { channel = channel, claim = 3 })
		srv.relay:on("seq", function(data, command)
			record(srv, command, { n = data.n })
			return { n = data.n }
		end)
		srv.relay:on("work", function(data, command)
			record(srv, command, { n = data.n })
			return { n = data.n, by = label }
		end)
		srv.relay:start()
		servers[i] = srv
	end
	waitUntilPolling(channel, servers)

	local N = 24
	local published, seqIds, workIds = 0, {}, {}
	local producerDone = false
	task.spawn(function()
		for n = 1, N do
			seqIds[n] = publish(channel, { name = "seq", data = { n = n }, key = "seq-" .. n }).id
			workIds[n] = publish(channel, { name = "work", mode = "queue", data = { n = n }, key = "work-" .. n }).id
			published = n
			task.wait(0.1)
		end
		producerDone = true
	end)
	-- A clean restart, then a crash with the relay down for a while, both mid-loop.
	check(R.waitFor(function()
		return published >= 6
	end, 30), "first commands out")
	control("/restart?signal=TERM&down=0.5")
	check(R.waitFor(function()
		return published >= 14
	end, 30), "more commands out")
	control("/restart?signal=KILL&down=1.5")
	check(R.waitFor(function()
		return producerDone
	end, 60), "producer finished")

	check(R.waitFor(function()
		local work = 0
		for _, srv in ipairs(servers) do
			if #ranIds(srv, "seq") < N then
				return false
			end
			work = work + #ranIds(srv, "work")
		end
		return work >= N
	end, 60, 0.05), "everything ran after the restarts")
	task.wait(1)

	local workRuns = {}
	local failures = 0
	for _, srv in ipairs(servers) do
		local got = ranIds(srv, "seq")
		check(#got == N, srv.label .. " ran each broadcast once", got)
		for n = 1, N do
			check(got[n] == seqIds[n], srv.label .. " ran the broadcasts in order, none lost or repeated", got, seqIds)
		end
		for _, id in ipairs(ranIds(srv, "work")) do
			workRuns[id] = (workRuns[id] or 0) + 1
		end
		-- the cursor survives the errors: every poll after the first says where it is
		local ps = polls(srv)
		local sawError = false
		for i, entry in ipairs(ps) do
			if entry.err or (entry.status and entry.status >= 500) then
				sawError = true
			end
			if i > 1 then
				check(R.decode(entry.request).after ~= nil, "poll carries its cursor", i)
			end
		end
		if sawError then
			failures = failures + 1
		end
	end
	for n = 1, N do
		check(workRuns[workIds[n]] == 1, "queue command ran exactly once", n, workRuns[workIds[n]])
	end
	note("%d of 3 servers saw the relay fail during the restarts", failures)
	check(failures >= 1, "the restart was felt mid-loop")

	check(R.waitFor(function()
		for n = 1, N do
			local c = getCommand(channel, seqIds[n])
			local w = getCommand(channel, workIds[n])
			if not (c and #c.acks == 3 and w and w.state == "done") then
				return false
			end
		end
		return true
	end, 15, 0.1), "every ack reached the relay")
	for _, srv in ipairs(servers) do
		srv.relay:stop()
	end
	noThreadDied()
end

scenarios.rate_limit_429_and_retry_after_are_respected = function()
	local channel = channelName("429")
	local srv = newServer("A", { channel = channel })
	srv.relay:on("ping", function(data, command)
		record(srv, command)
		return { pong = data.n }
	end)
	srv.relay:start()
	waitUntilPolling(channel, { srv })

	control("/throttle/on")
	local first = publish(channel, { name = "ping", data = { n = 1 } })
	-- The held poll brings it; the poll carrying its ack meets the 429s.
	local function throttled()
		local n = 0
		for _, entry in ipairs(polls(srv)) do
			if entry.status == 429 then
				n = n + 1
			end
		end
		return n
	end
	check(R.waitFor(function()
		return throttled() >= 3
	end, 30), "polls were throttled", throttled())
	control("/throttle/off")
	check(R.waitFor(function()
		local c = getCommand(channel, first.id)
		return c and #c.acks == 1
	end, 30, 0.1), "the ack held back by the 429s arrived afterwards")
	local second = publish(channel, { name = "ping", data = { n = 2 } })
	check(R.waitFor(function()
		return #ranIds(srv, "ping") == 2
	end, 10), "commands flow again")

	local ps = polls(srv)
	local gaps = {}
	for i, entry in ipairs(ps) do
		if entry.status == 429 then
			check(entry.responseHeaders["retry-after"] == tostring(RETRY_AFTER), "Retry-After arrived lower-cased")
			local nextEntry = ps[i + 1]
			check(nextEntry ~= nil, "polled again after a 429")
			local gap = nextEntry.t - entry.finished
			table.insert(gaps, string.format("%.2f", gap))
			check(gap >= RETRY_AFTER - 0.001, "waited Retry-After before the next request", gap)
			check(#R.decode(nextEntry.request).acks == 1, "the ack rode again on the next poll")
		end
	end
	note("gaps after 429 (s): %s", table.concat(gaps, " "))
	check(#ranIds(srv, "ping") == 2 and srv.ran[2].id == second.id, "nothing ran twice")
	srv.relay:stop()
	noThreadDied()
end

scenarios.network_errors_back_off_exponentially_with_jitter = function()
	local closed = socket.bind("127.0.0.1", 0)
	local _, port = closed:getsockname()
	closed:close()
	local srv = newServer("A", { channel = channelName("down"), url = "http://127.0.0.1:" .. port })
	srv.relay:start()
	task.wait(180)
	srv.relay:stop()
	local log = srv.HttpService.log
	local gaps = {}
	for i = 2, #log do
		gaps[i - 1] = log[i].t - log[i - 1].finished
	end
	local shown = {}
	for i, g in ipairs(gaps) do
		shown[i] = string.format("%.1f", g)
		local ceiling = math.min(30, 2 ^ (i - 1))
		check(g >= ceiling / 2 - 0.01 and g <= ceiling + 0.3, "gap " .. i .. " within [d/2, d]", g, ceiling)
	end
	note("%d attempts in 180 s, gaps %s", #log, table.concat(shown, " "))
	for _, entry in ipairs(log) do
		check(entry.err and string.find(entry.err, "ConnectFail", 1, true), "each attempt failed to connect", entry.err)
	end
	check(#log <= 16, "few attempts while the relay is unreachable", #log)
	local distinct = {}
	for i = 6, #gaps do
		distinct[string.format("%.3f", gaps[i])] = true
	end
	local count = 0
	for _ in pairs(distinct) do
		count = count + 1
	end
	check(count >= 3, "capped gaps are jittered, not in lockstep", shown)
	check(contains(srv.warnings, "retrying in"), "failures are logged")
	noThreadDied()
end

-- --- budget -----------------------------------------------------------------

scenarios.budget_share_never_exceeded_in_two_minutes = function()
	local channel = channelName("budget")
	local replies = channelName("replies")
	-- Short polls, so nothing waits on the relay and the clock can skip: a busy
	-- channel, a game that publishes in a loop and uses HTTP for itself as well.
	local srv = newServer("A", { channel = channel, wait = 0 })
	local hs = srv.game:GetService("HttpService")
	local ticks = {}
	srv.relay:on("tick", function(data, command)
		record(srv, command)
		ticks[data.n] = R.now()
		return { ok = true }
	end)
	srv.relay:start()

	local RUN = 120
	local t0 = R.now()
	local stop = false
	local published = {}
	task.spawn(function() -- the producer: 4 commands a second
		local n = 0
		while not stop do
			n = n + 1
			publish(channel, { name = "tick", data = { n = n } })
			published[n] = R.now()
			task.wait(0.25)
		end
	end)
	local gamePublishes, publishErrors, firstPublishError = 0, 0, nil
	task.spawn(function() -- game code publishing as fast as the module lets it
		while not stop do
			local ok, err = pcall(srv.relay.publish, srv.relay, "event", { at = R.now() }, { channel = replies, ttl = 60 })
			if ok then
				gamePublishes = gamePublishes + 1
			else
				publishErrors = publishErrors + 1
				firstPublishError = firstPublishError or err
				task.wait(1)
			end
		end
	end)
	local ownRequests = 0
	task.spawn(function() -- the game's own HTTP use, outside the module: 100 a minute
		while not stop do
			if pcall(hs.RequestAsync, hs, { Url = URL .. "/v1/health" }) then
				ownRequests = ownRequests + 1
			end
			task.wait(0.6)
		end
	end)
	task.wait(RUN)
	stop = true
	srv.relay:stop()
	local tEnd = R.now()

	local log = srv.HttpService.log
	local function maxInWindow(filter)
		local times = {}
		for _, entry in ipairs(log) do
			if filter(entry) then
				table.insert(times, entry.t)
			end
		end
		local best, j = 0, 1
		for i = 1, #times do
			while times[i] - times[j] >= 60 do
				j = j + 1
			end
			best = math.max(best, i - j + 1)
		end
		return best, #times
	end
	local function isModule(entry)
		return not string.match(entry.path, "^/v1/health")
	end
	local moduleMax, moduleTotal = maxInWindow(isModule)
	local allMax = maxInWindow(function()
		return true
	end)
	local pollMax, pollTotal = maxInWindow(function(e)
		return string.match(e.path, "/poll$") ~= nil
	end)
	note("simulated %.0f s: module %d requests (%d polls, %d publishes), at most %d in any 60 s (polls %d);"
		.. " the game's own %d; everything at most %d in 60 s",
		tEnd - t0, moduleTotal, pollTotal, gamePublishes, moduleMax, pollMax, ownRequests, allMax)
	check(publishErrors == 0, "no publish failed", publishErrors, firstPublishError)
	check(#srv.limited == 0, "HttpService never refused a request for the limit", #srv.limited)
	check(moduleMax <= 300, "the module stays within 60% of 500 in every 60 s window", moduleMax)
	check(allMax <= 500, "all together within 500", allMax)
	check(moduleMax >= 240, "demand beyond the share used most of it, so the limiter is what held it", moduleMax)
	check(pollMax >= 60, "publishing in a loop did not starve the polls", pollMax)

	-- every tick published well before the end ran, once, without piling up
	local worst, worstSteady = 0, 0
	for n, at in pairs(published) do
		if at < tEnd - 5 then
			check(ticks[n] ~= nil, "tick ran", n)
			worst = math.max(worst, ticks[n] - at)
			if at > t0 + 10 then
				worstSteady = math.max(worstSteady, ticks[n] - at)
			end
		end
	end
	local seen = {}
	for _, id in ipairs(ranIds(srv, "tick")) do
		check(not seen[id], "no tick ran twice", id)
		seen[id] = true
	end
	local slow = {}
	for n, at in pairs(published) do
		if ticks[n] and ticks[n] - at > 2 then
			table.insert(slow, string.format("%d@%.1f:%.1f", n, at - t0, ticks[n] - at))
		end
	end
	if os.getenv("ROBLOX_VERBOSE") then
		note("slow ticks: %s", table.concat(slow, " "))
	end
	note("tick latency under a saturated budget: worst %.2f s, after the first 10 s %.2f s", worst, worstSteady)
	check(worst < 6.5, "a burst holds the polls back at most one 6 s window", worst)
	check(worstSteady < 3, "then ticks keep flowing", worstSteady)
	noThreadDied()
end

-- --- shutting down ----------------------------------------------------------

scenarios.stop_and_bind_to_close_ack_what_was_done = function()
	local channel = channelName("close")
	-- A server closing while a handler runs: BindToClose waits for it and its ack.
	local a = newServer("A", { channel = channel, claim = 1 })
	local started, finished = false, false
	a.relay:on("slow", function(data, command)
		started = true
		record(a, command)
		task.wait(3)
		finished = true
		return { finished = true }
	end)
	a.relay:start()
	waitUntilPolling(channel, { a })
	local slow = publish(channel, { name = "slow", mode = "queue" })
	check(R.waitFor(function()
		return started
	end, 5), "handler started")
	local t = R.now()
	a:close() -- what Roblox does when the server shuts down
	note("BindToClose returned after %.2f s", R.now() - t)
	check(finished, "the running handler finished before close returned")
	local c = getCommand(channel, slow.id)
	check(c.state == "done" and c.result.finished == true, "its ack reached the relay before close returned", c)
	local count = #a.HttpService.log
	local last = R.decode(a.HttpService.log[count].request)
	check(last.claim == 0 and last.wait == 0, "the closing poll takes no new work and does not wait", last)
	task.wait(2)
	check(#a.HttpService.log == count, "no request after closing")

	-- stop() while a poll is held returns at once; what that poll brings is not run,
	-- and a later start() receives it again.
	local b = newServer("B", { channel = channel })
	b.relay:on("later", function(data, command)
		record(b, command)
		return { ran = true }
	end)
	b.relay:start()
	waitUntilPolling(channel, { b })
	t = R.now()
	b.relay:stop()
	local stopTook = R.now() - t
	note("stop() during a held poll returned after %.3f s", stopTook)
	check(stopTook < 0.5, "stop() does not wait out a long poll", stopTook)
	local later = publish(channel, { name = "later" })
	task.wait(1)
	check(#b.ran == 0, "a command that arrives while stopping is not run")
	b.relay:start()
	check(R.waitFor(function()
		return #b.ran == 1
	end, 10), "after start() it arrives again")
	check(b.ran[1].id == later.id, "the same command")
	b.relay:stop()

	-- A handler may stop the relay itself: stop() returns at once, the loop ends
	-- after the handler and its ack goes out.
	local c = newServer("C", { channel = channel })
	local stopTookInside = nil
	c.relay:on("shutdown", function(data, command)
		record(c, command)
		local t0 = R.now()
		c.relay:stop()
		stopTookInside = R.now() - t0
		return { stopping = true }
	end)
	c.relay:start()
	waitUntilPolling(channel, { c })
	local shutdown = publish(channel, { name = "shutdown", target = c.relay.consumer })
	check(R.waitFor(function()
		local got = getCommand(channel, shutdown.id)
		return got and #got.acks == 1
	end, 10, 0.05), "the handler's ack went out")
	check(stopTookInside ~= nil and stopTookInside < 0.1, "stop() from a handler returns at once", stopTookInside)
	local n = #c.HttpService.log
	task.wait(2)
	check(#c.HttpService.log == n, "and the loop ended")
	noThreadDied()
end

-- --- for test_examples.py ----------------------------------------------------

-- Two game servers on CMDRELAY_CHANNEL that answer "announce" (broadcast) and
-- "reward" (queue); prints "ready" once both poll, then serves until killed.
scenarios.serve_for_examples = function()
	local channel = assert(os.getenv("CMDRELAY_CHANNEL"), "CMDRELAY_CHANNEL")
	local servers = {}
	for i, label in ipairs({ "A", "B" }) do
		local srv = newServer(label, { channel = channel, claim = 1 })
		srv.relay:on("announce", function(data)
			return { server = label, heard = data and data.text }
		end)
		srv.relay:on("reward", function(data)
			return { server = label, rewarded = data and data.player, coins = data and data.coins }
		end)
		srv.relay:start()
		servers[i] = srv
	end
	waitUntilPolling(channel, servers)
	print("ready")
	io.stdout:flush()
	while true do
		task.wait(1)
	end
end

-- --- main -------------------------------------------------------------------

local name = arg[1]
local fn = scenarios[name]
if fn == nil then
	local names = {}
	for k in pairs(scenarios) do
		table.insert(names, k)
	end
	table.sort(names)
	io.stderr:write("usage: lua5.1 scenarios.lua NAME\n  " .. table.concat(names, "\n  ") .. "\n")
	os.exit(2)
end
local ok, err = R.main(fn, name == "serve_for_examples" and 1e9 or 900)
if not ok then
	print("FAILED: " .. tostring(err))
	os.exit(1)
end
print("passed")
os.exit(0)
