--[[
Stand-ins for the parts of Roblox that CommandRelay.lua touches, for Lua 5.1 with
lua-socket and lua-cjson. One process holds several "game servers": each has its own
`game`, HttpService (with its own 500-a-minute budget) and copy of the module, and
all share one scheduler.

What is faithful, because the module depends on it:
  - task.spawn/defer/delay/wait/cancel on coroutines; task.spawn runs the thread at once;
  - pcall and xpcall that a yield may cross, as in Luau (Lua 5.1's cannot);
  - HttpService:RequestAsync over real, non-blocking HTTP: Roblox's request shape
    {Url, Method, Headers, Body} and result {Success (2xx only), StatusCode,
    StatusMessage, Headers (names lower-cased), Body}; an error on connection failure
    ("HttpError: ConnectFail"), timeout ("HttpError: Timedout"), locked headers, a
    body on GET, and past 500 requests in 60 s ("Number of requests exceeded limit");
  - JSONEncode: an empty table is [], numbers are doubles, mixed tables are refused;
    JSONDecode: null becomes nil; GenerateGUID; GetSecret returning a Secret that
    prints as Secret(name), cannot be concatenated, and offers AddPrefix/AddSuffix;
  - game:GetService, game.JobId, game:BindToClose.

The clock is simulated: it runs with real time while a thread waits for the network,
and jumps over stretches where every thread only sleeps. Long polls are real; a
two-minute budget run takes seconds.
]]

local socket = require("socket")
local cjson = require("cjson")

local R = {}
local unpack = unpack or table.unpack
local pcall = pcall -- Lua's own, even after a scenario replaces the global

local function pack(...)
	return { n = select("#", ...), ... }
end

-- --- clock ------------------------------------------------------------------

local realStart = socket.gettime()
local skipped = 0

function R.now()
	return socket.gettime() - realStart + skipped
end
local now = R.now

-- --- scheduler --------------------------------------------------------------

local REQUEST = {} -- first value of every yield addressed to the scheduler
local ready = {} -- {co, args}
local timers = {} -- {at, co, started}
local waiters = {} -- {sock, mode, co, deadline}
local cancelled = setmetatable({}, { __mode = "k" })
R.errors = {} -- errors that ended a thread, as Roblox would print them

local step

local function file(co, res)
	-- res: results of coroutine.resume, without the leading true
	if res[1] ~= REQUEST then
		return -- a plain coroutine.yield(): the thread waits until someone resumes it
	end
	local kind = res[2]
	if kind == "wait" then
		local t0 = now()
		table.insert(timers, { at = t0 + res[3], co = co, started = t0, wait = res[3] })
	elseif kind == "io" then
		table.insert(waiters, { sock = res[3], mode = res[4], co = co, deadline = res[5] })
	elseif kind == "defer" then
		table.insert(ready, { co = co, args = pack() })
	else
		error("unknown scheduler request " .. tostring(kind))
	end
end

step = function(co, ...)
	if cancelled[co] then
		return
	end
	local res = pack(coroutine.resume(co, ...))
	if not res[1] then
		local message = debug.traceback(co, tostring(res[2]))
		table.insert(R.errors, message)
		io.stderr:write("thread error: " .. message .. "\n")
		return
	end
	if coroutine.status(co) == "dead" then
		return
	end
	file(co, { n = res.n - 1, unpack(res, 2, res.n) })
end

local task = {}
R.task = task

function task.spawn(f, ...)
	local co = f
	if type(f) == "function" then
		co = coroutine.create(f)
	end
	step(co, ...)
	return co
end

function task.defer(f, ...)
	local co = f
	if type(f) == "function" then
		co = coroutine.create(f)
	end
	table.insert(ready, { co = co, args = pack(...) })
	return co
end

function task.delay(t, f, ...)
	local co = f
	if type(f) == "function" then
		co = coroutine.create(f)
	end
	local args = pack(...)
	table.insert(timers, { at = now() + (t or 0), co = co, started = now(), args = args })
	return co
end

function task.wait(t)
	t = t or 0
	if t < 1 / 60 then
		t = 1 / 60 -- one frame, like Roblox
	end
	return coroutine.yield(REQUEST, "wait", t)
end

function task.cancel(co)
	cancelled[co] = true
end

-- Waits until sock is readable ("r") or writable ("w"); false at the deadline.
function R.waitIO(sock, mode, deadline)
	return coroutine.yield(REQUEST, "io", sock, mode, deadline)
end

-- Luau's pcall lets the protected function yield; Lua 5.1's does not. This one
-- runs it in a coroutine and passes its yields up to the scheduler and back.
local function ypcall(f, ...)
	local co = coroutine.create(function(...)
		return f(...) -- a Lua function even when f is a C function
	end)
	local res = pack(coroutine.resume(co, ...))
	while true do
		if not res[1] then
			return false, res[2]
		end
		if coroutine.status(co) == "dead" then
			return true, unpack(res, 2, res.n)
		end
		res = pack(coroutine.resume(co, coroutine.yield(unpack(res, 2, res.n))))
	end
end
R.pcall = ypcall

function R.xpcall(f, handler, ...)
	local res = pack(ypcall(f, ...))
	if not res[1] then
		return false, handler(res[2])
	end
	return unpack(res, 1, res.n)
end

local function dueTimers(t)
	local due = {}
	local i = 1
	while i <= #timers do
		if timers[i].at <= t then
			table.insert(due, table.remove(timers, i))
		else
			i = i + 1
		end
	end
	table.sort(due, function(a, b)
		return a.at < b.at
	end)
	return due
end

--[[ Runs the scheduler until done() is true. Returns false if it had to give up:
nothing left to run, or `limit` seconds of simulated time passed. ]]
function R.runUntil(done, limit)
	local deadline = now() + (limit or 600)
	while not done() do
		if now() > deadline then
			return false
		end
		while ready[1] ~= nil do
			local r = table.remove(ready, 1)
			step(r.co, unpack(r.args, 1, r.args.n))
		end
		local t = now()
		local due = dueTimers(t)
		for _, timer in ipairs(due) do
			if timer.args then
				step(timer.co, unpack(timer.args, 1, timer.args.n))
			else
				-- Roblox's task.wait returns at least the time asked for; the
				-- clock's float rounding must not make it look shorter.
				step(timer.co, math.max(now() - timer.started, timer.wait or 0))
			end
		end
		if due[1] == nil and ready[1] == nil and not done() then
			local nextAt = nil
			for _, timer in ipairs(timers) do
				if nextAt == nil or timer.at < nextAt then
					nextAt = timer.at
				end
			end
			if waiters[1] == nil then
				if nextAt == nil then
					return false -- every thread is blocked for good
				end
				skipped = skipped + (nextAt - t) -- nobody waits on the network: jump
			else
				local wake = nextAt
				for _, w in ipairs(waiters) do
					if w.deadline and (wake == nil or w.deadline < wake) then
						wake = w.deadline
					end
				end
				local timeout = 0.5
				if wake ~= nil then
					timeout = math.max(0, math.min(timeout, wake - t))
				end
				local readers, writers = {}, {}
				for _, w in ipairs(waiters) do
					if w.mode == "r" then
						table.insert(readers, w.sock)
					else
						table.insert(writers, w.sock)
					end
				end
				local canRead, canWrite = socket.select(readers, writers, timeout)
				local after = now()
				local i = 1
				while i <= #waiters do
					local w = waiters[i]
					local set = canWrite
					if w.mode == "r" then
						set = canRead
					end
					if set[w.sock] then
						table.remove(waiters, i)
						step(w.co, true)
					elseif w.deadline and w.deadline <= after then
						table.remove(waiters, i)
						step(w.co, false)
					else
						i = i + 1
					end
				end
			end
		end
	end
	return true
end

-- Runs fn as the main thread of a scenario; returns when it ends (or on limit).
function R.main(fn, limit)
	local finished = false
	local ok, err = true, nil
	task.spawn(function()
		ok, err = ypcall(fn)
		finished = true
	end)
	if not R.runUntil(function()
		return finished
	end, limit) then
		return false, "scenario did not finish (blocked, or over the time limit)"
	end
	return ok, err
end

-- Yields until cond() is true, checking every `every` seconds; false after `timeout`.
function R.waitFor(cond, timeout, every)
	local deadline = now() + (timeout or 10)
	while not cond() do
		if now() > deadline then
			return false
		end
		task.wait(every or 0.02)
	end
	return true
end

-- --- JSON, the way Roblox does it -------------------------------------------

local function encodeString(s)
	return '"'
		.. string.gsub(s, '[%c"\\]', function(c)
			local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ["\b"] = "\\b", ["\f"] = "\\f" }
			return named[c] or string.format("\\u%04x", string.byte(c))
		end)
		.. '"'
end

local function encodeNumber(n)
	if n ~= n or n == math.huge or n == -math.huge then
		error("Can't convert to JSON", 0)
	end
	if n == math.floor(n) and math.abs(n) <= 2 ^ 53 then
		return string.format("%.0f", n)
	end
	for digits = 14, 17 do -- the shortest form that reads back as the same double
		local s = string.format("%." .. digits .. "g", n)
		if tonumber(s) == n then
			return s
		end
	end
	return string.format("%.17g", n)
end

local function encode(v, seen)
	local t = type(v)
	if v == nil then
		return "null"
	elseif t == "boolean" then
		return tostring(v)
	elseif t == "number" then
		return encodeNumber(v)
	elseif t == "string" then
		return encodeString(v)
	elseif t ~= "table" then
		error("Can't convert to JSON", 0) -- functions, Instances, Secrets
	end
	if seen[v] then
		error("Can't convert to JSON: tables cannot be cyclic", 0)
	end
	seen[v] = true
	local count, strings, maxIndex = 0, 0, 0
	for k in pairs(v) do
		count = count + 1
		if type(k) == "string" then
			strings = strings + 1
		elseif type(k) == "number" and k >= 1 and k == math.floor(k) then
			maxIndex = math.max(maxIndex, k)
		else
			error("Can't convert to JSON", 0)
		end
	end
	local out = {}
	if count == 0 then
		seen[v] = nil
		return "[]" -- Roblox cannot tell an empty object from an empty array
	elseif strings == 0 and maxIndex == count then
		for i = 1, count do
			out[i] = encode(v[i], seen)
		end
		seen[v] = nil
		return "[" .. table.concat(out, ",") .. "]"
	elseif strings == count then
		local keys = {}
		for k in pairs(v) do
			table.insert(keys, k)
		end
		table.sort(keys)
		for _, k in ipairs(keys) do
			table.insert(out, encodeString(k) .. ":" .. encode(v[k], seen))
		end
		seen[v] = nil
		return "{" .. table.concat(out, ",") .. "}"
	end
	error("Can't convert to JSON: mixed or sparse table", 0)
end

function R.encode(v)
	return encode(v, {})
end

local function denull(v)
	if v == cjson.null then
		return nil
	end
	if type(v) == "table" then
		local out = {}
		for k, x in pairs(v) do
			out[k] = denull(x)
		end
		return out
	end
	return v
end

function R.decode(s)
	local ok, v = pcall(cjson.decode, s)
	if not ok then
		error("Can't parse JSON", 0)
	end
	return denull(v)
end

function R.guid(wrap)
	local hex = {}
	for i = 1, 32 do
		hex[i] = string.format("%X", math.random(0, 15))
	end
	local s = table.concat(hex)
	s = string.sub(s, 1, 8) .. "-" .. string.sub(s, 9, 12) .. "-" .. string.sub(s, 13, 16) .. "-"
		.. string.sub(s, 17, 20) .. "-" .. string.sub(s, 21, 32)
	if wrap == nil or wrap then
		return "{" .. s .. "}"
	end
	return s
end

-- --- Secret -----------------------------------------------------------------

local secretData = setmetatable({}, { __mode = "k" })
local secretMethods = {}
local secretMeta = {
	__index = secretMethods,
	__tostring = function(s)
		return "Secret(" .. secretData[s].name .. ")"
	end,
	__concat = function()
		error("attempt to concatenate a Secret value", 2)
	end,
}

local function newSecret(name, value, domain)
	local s = newproxy(true)
	local meta = getmetatable(s)
	for k, v in pairs(secretMeta) do
		meta[k] = v
	end
	secretData[s] = { name = name, value = value, domain = domain }
	return s
end

function secretMethods:AddPrefix(prefix)
	local d = secretData[self]
	return newSecret(d.name, prefix .. d.value, d.domain)
end

function secretMethods:AddSuffix(suffix)
	local d = secretData[self]
	return newSecret(d.name, d.value .. suffix, d.domain)
end

local function domainMatches(pattern, host)
	if pattern == "*" or pattern == host then
		return true
	end
	local base = string.match(pattern, "^%*%.(.+)$")
	return base ~= nil and string.sub(host, -(#base + 1)) == "." .. base
end

-- --- HTTP over non-blocking sockets -----------------------------------------

local function parseUrl(url)
	local scheme, host, port, path = string.match(url, "^(%a+)://([^/:]+):?(%d*)(.*)$")
	if scheme == nil then
		return nil
	end
	scheme = string.lower(scheme)
	if port == "" then
		port = (scheme == "https") and 443 or 80
	end
	if path == "" then
		path = "/"
	end
	return scheme, host, tonumber(port), path
end
R.parseUrl = parseUrl

local function dechunk(body)
	local out, pos = {}, 1
	while true do
		local line_end = string.find(body, "\r\n", pos, true)
		if not line_end then
			return nil
		end
		local size = tonumber(string.match(string.sub(body, pos, line_end - 1), "^%x+"), 16)
		if size == nil then
			return nil
		end
		if size == 0 then
			return table.concat(out)
		end
		table.insert(out, string.sub(body, line_end + 2, line_end + 1 + size))
		pos = line_end + 2 + size + 2
	end
end

--[[ One HTTP/1.1 request with Connection: close. Yields while waiting. Returns
status, reason, headers (lower-cased names), body; raises "HttpError: ConnectFail"
or "HttpError: Timedout". ]]
function R.http(method, url, headers, body, timeout)
	local scheme, host, port, path = parseUrl(url)
	if scheme ~= "http" then
		error("HttpError: InvalidUrl (the stand-in speaks plain http only)", 0)
	end
	local deadline = now() + (timeout or 30)
	local sock = socket.tcp()
	sock:settimeout(0)
	local function fail(what)
		sock:close()
		error("HttpError: " .. what, 0)
	end
	local ok, err = sock:connect(host, port)
	if not ok then
		if err ~= "timeout" then
			fail("ConnectFail")
		end
		if not R.waitIO(sock, "w", deadline) then
			fail("Timedout")
		end
		ok, err = sock:connect(host, port)
		if not ok and err ~= "already connected" then
			fail("ConnectFail")
		end
	end
	local lines = { method .. " " .. path .. " HTTP/1.1", "Host: " .. host .. ":" .. port }
	for name, value in pairs(headers or {}) do
		table.insert(lines, name .. ": " .. value)
	end
	table.insert(lines, "Connection: close")
	if body ~= nil then
		table.insert(lines, "Content-Length: " .. #body)
	end
	local data = table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
	local i = 1
	while i <= #data do
		local n, serr, partial = sock:send(data, i)
		if n then
			i = n + 1
		elseif serr == "timeout" then
			i = partial + 1
			if not R.waitIO(sock, "w", deadline) then
				fail("Timedout")
			end
		else
			fail("ConnectFail")
		end
	end
	local parts = {}
	while true do
		local chunk, rerr, partial = sock:receive(65536)
		if chunk then
			table.insert(parts, chunk)
		else
			if partial and partial ~= "" then
				table.insert(parts, partial)
			end
			if rerr == "closed" then
				break
			elseif rerr == "timeout" then
				if not R.waitIO(sock, "r", deadline) then
					fail("Timedout")
				end
			else
				fail("ConnectFail")
			end
		end
	end
	sock:close()
	local raw = table.concat(parts)
	local head_end = string.find(raw, "\r\n\r\n", 1, true)
	if not head_end then
		error("HttpError: ConnectFail (no response)", 0)
	end
	local head = string.sub(raw, 1, head_end - 1)
	local rest = string.sub(raw, head_end + 4)
	local status, reason = string.match(head, "^HTTP/%d%.%d (%d%d%d) ?([^\r\n]*)")
	local out = {}
	for name, value in string.gmatch(head, "\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do
		out[string.lower(name)] = value
	end
	if out["transfer-encoding"] and string.find(string.lower(out["transfer-encoding"]), "chunked") then
		rest = dechunk(rest) or rest
	elseif out["content-length"] then
		rest = string.sub(rest, 1, tonumber(out["content-length"]))
	end
	return tonumber(status), reason, out, rest
end

-- --- HttpService ------------------------------------------------------------

local LOCKED = {}
for _, name in ipairs({
	"Accept-Encoding", "Connection", "Content-Length", "Expect", "Forwarded", "Host", "Proxy-Connection",
	"User-Agent", "Via", "X-Att-Deviceid", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
	"X-Wap-Profile", "Roblox-Id",
}) do
	LOCKED[string.lower(name)] = true
end

local METHODS = { GET = true, HEAD = true, POST = true, PUT = true, DELETE = true, OPTIONS = true, PATCH = true }

local function newHttpService(server)
	local hs = {
		HttpEnabled = true,
		Timeout = 30, -- Roblox documents none; long polls of 25 s or less are safe
		LIMIT = 500,
		log = {}, -- every request: {t, finished, method, url, path, status, err, request, headers}
		_secrets = {},
	}

	function hs:JSONEncode(v)
		return R.encode(v)
	end

	function hs:JSONDecode(s)
		if type(s) ~= "string" then
			error("Can't parse JSON", 0)
		end
		return R.decode(s)
	end

	function hs:GenerateGUID(wrap)
		return R.guid(wrap)
	end

	function hs:GetSecret(name)
		local s = self._secrets[name]
		if s == nil then
			error("Can't find secret with given key", 0)
		end
		return newSecret(name, s[1], s[2] or "*")
	end

	-- Requests counted over the last 60 s, the way the limit is checked.
	function hs:recentCount(t)
		local n = 0
		for _, entry in ipairs(self.log) do
			if entry.t > t - 60 and entry.t <= t then
				n = n + 1
			end
		end
		return n
	end

	function hs:RequestAsync(request)
		if not self.HttpEnabled then
			error("Http requests are not enabled. Enable via game settings", 0)
		end
		if type(request) ~= "table" or type(request.Url) ~= "string" then
			error("Url field is required", 0)
		end
		local scheme, host, port, path = parseUrl(request.Url)
		if scheme ~= "http" and scheme ~= "https" then
			error("Url must be http or https", 0)
		end
		if port < 1024 and port ~= 80 and port ~= 443 then
			error("HttpError: InvalidUrl (port " .. port .. " is blocked)", 0)
		end
		local method = string.upper(request.Method or "GET")
		if not METHODS[method] then
			error("Invalid Method " .. method, 0)
		end
		local body = request.Body
		if body ~= nil and type(body) ~= "string" then
			error("Body must be a string", 0) -- a Secret cannot go in the body
		end
		if body ~= nil and (method == "GET" or method == "HEAD") then
			error("Body is not allowed for " .. method .. " requests", 0)
		end
		local headers = { ["User-Agent"] = "Roblox/Linux", Accept = "*/*", ["Cache-Control"] = "no-cache",
			["Roblox-Id"] = "placeId=0" }
		local sent = {}
		for name, value in pairs(request.Headers or {}) do
			if type(name) ~= "string" then
				error("Header names must be strings", 0)
			end
			if LOCKED[string.lower(name)] then
				error('Header "' .. name .. '" is not allowed!', 0)
			end
			if type(value) == "string" then
				headers[name] = value
			elseif type(value) == "userdata" and secretData[value] ~= nil then
				local d = secretData[value]
				if not domainMatches(d.domain, host) then
					error("Secret " .. d.name .. " is not allowed for domain " .. host, 0)
				end
				headers[name] = d.value
			else
				error("Header values must be strings or Secrets", 0)
			end
			sent[string.lower(name)] = headers[name]
		end

		local t = now()
		if self:recentCount(t) >= self.LIMIT then
			table.insert(server.limited, t)
			error("Number of requests exceeded limit", 0)
		end
		local entry = { t = t, method = method, url = request.Url, path = path, request = body, headers = sent }
		table.insert(self.log, entry)
		local ok, status, reason, rheaders, rbody = ypcall(R.http, method, request.Url, headers, body, self.Timeout)
		entry.finished = now()
		if not ok then
			entry.err = status
			error(status, 0)
		end
		entry.status = status
		entry.responseHeaders = rheaders
		entry.response = rbody
		return {
			Success = status >= 200 and status <= 299,
			StatusCode = status,
			StatusMessage = reason,
			Headers = rheaders,
			Body = rbody,
		}
	end

	return hs
end

-- --- game servers -----------------------------------------------------------

--[[ A game server: R.server({jobId = "...", secrets = {name = {value, domain}}}).
server.game and server.HttpService are its stand-ins; server:require(path) loads a
ModuleScript in the server's environment; server:close() runs BindToClose. ]]
function R.server(options)
	options = options or {}
	local server = { warnings = {}, limited = {}, closers = {}, label = options.label or "server" }
	local hs = newHttpService(server)
	hs._secrets = options.secrets or {}
	server.HttpService = hs
	local services = { HttpService = hs }
	local game = { JobId = options.jobId or "", PlaceId = 0 }
	function game:GetService(name)
		local s = services[name]
		if s == nil then
			error("'" .. tostring(name) .. "' is not a valid Service name", 2)
		end
		return s
	end
	function game:BindToClose(fn)
		table.insert(server.closers, fn)
	end
	server.game = game

	local env = {
		game = game,
		task = task,
		pcall = ypcall,
		xpcall = R.xpcall,
		os = { clock = now, time = function()
			return math.floor(os.time() + skipped)
		end, date = os.date },
		warn = function(...)
			local parts = {}
			for i = 1, select("#", ...) do
				parts[i] = tostring((select(i, ...)))
			end
			local line = table.concat(parts, " ")
			table.insert(server.warnings, line)
			if os.getenv("ROBLOX_VERBOSE") then
				io.stderr:write(string.format("[%7.2f %s] %s\n", now(), server.label, line))
			end
		end,
		print = function(...)
			if os.getenv("ROBLOX_VERBOSE") then
				print(...)
			end
		end,
	}
	server.env = setmetatable(env, { __index = _G })

	function server:require(path)
		local chunk = assert(loadfile(path))
		setfenv(chunk, self.env)
		return chunk()
	end

	-- Roblox runs every BindToClose function at once and waits for all (30 s at most).
	function server:close()
		local pending = #self.closers
		for _, fn in ipairs(self.closers) do
			task.spawn(function()
				local ok, err = ypcall(fn)
				if not ok then
					table.insert(R.errors, "BindToClose: " .. tostring(err))
				end
				pending = pending - 1
			end)
		end
		R.waitFor(function()
			return pending == 0
		end, 30)
	end

	return server
end

return R
