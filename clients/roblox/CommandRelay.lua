--[[
CommandRelay: receive commands from a cmdrelay server in a Roblox game server.

	local CommandRelay = require(ServerScriptService.CommandRelay)
	local relay = CommandRelay.new({
		url = "https://relay.example.com",
		key = HttpService:GetSecret("cmdrelay"),
		channel = "game-1",
	})
	relay:on("kick", function(data, command)
		-- ...
		return { kicked = true } -- becomes the ack's result
	end)
	relay:start()

One loop per relay polls POST /v1/channels/{channel}/poll. Each poll carries the
acks of the previous batch and long-polls for the next one, so an idle server
costs about two requests a minute and a busy one stays inside its share of
HttpService's 500 requests a minute.

Written in the common subset of Luau and Lua 5.1 (no type annotations, no
compound assignment, no `continue`) so the same file runs under the test harness.
]]

local HttpService = game:GetService("HttpService")

local CommandRelay = {}
CommandRelay.__index = CommandRelay

local REQUESTS_PER_MINUTE = 500 -- HttpService's limit per game server
local WINDOW = 60 -- seconds the limit is counted over
local BURST = 6 -- at most a tenth of the share in any 6 s
local MAX_WAIT = 25 -- the relay holds a poll at most this long
local RESULT_LIMIT = 16384 -- the relay refuses a result over 16 KiB
local ACK_BYTES = 32768 -- acks per poll, so a poll stays under the relay's 64 KiB body limit
local ACKS_MAX = 100 -- and the relay takes at most 100 acks in one poll
local BACKOFF_MIN = 1
local BACKOFF_MAX = 30
local REMEMBER_DONE = 500 -- queue results kept to answer a redelivery without running twice

local function log(...)
	warn("[CommandRelay]", ...)
end

local function isInteger(n, low, high)
	return type(n) == "number" and n == math.floor(n) and n >= low and n <= high
end

local function option(options, name, default, low, high)
	local value = options[name]
	if value == nil then
		return default
	end
	assert(isInteger(value, low, high), string.format("CommandRelay: %s must be an integer from %d to %d", name, low, high))
	return value
end

--[[ Creates a relay; nothing is sent until start() or publish(). ]]
function CommandRelay.new(options)
	assert(type(options) == "table", "CommandRelay.new expects a table of options")
	local url = options.url
	assert(type(url) == "string" and string.match(url, "^https?://[^/]"), "CommandRelay: url must be an http(s) URL")
	local channel = options.channel
	assert(
		type(channel) == "string" and #channel <= 64 and string.match(channel, "^[%w][%w._%-]*$"),
		"CommandRelay: channel must be 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit"
	)

	-- A Roblox server is named by its JobId; Studio's is empty, so make one up per session.
	local consumer = options.consumer
	if consumer == nil then
		consumer = game.JobId
		if consumer == nil or consumer == "" then
			consumer = "studio-" .. HttpService:GenerateGUID(false)
		end
	end
	assert(
		type(consumer) == "string" and #consumer <= 128 and string.match(consumer, "^[%w._:%-]+$"),
		"CommandRelay: consumer must be 1-128 of A-Z a-z 0-9 . _ : -"
	)

	local share = options.budgetShare
	if share == nil then
		share = 0.6
	end
	assert(type(share) == "number" and share > 0 and share <= 1, "CommandRelay: budgetShare must be above 0 and at most 1")

	-- A Secret can only be concatenated through AddPrefix, and may only go in a header.
	local auth = nil
	if type(options.key) == "string" then
		auth = "Bearer " .. options.key
	elseif options.key ~= nil then
		auth = options.key:AddPrefix("Bearer ")
	end

	local self = setmetatable({}, CommandRelay)
	self.url = string.gsub(url, "/+$", "")
	self.channel = channel
	self.consumer = consumer
	self.wait = option(options, "wait", MAX_WAIT, 0, MAX_WAIT)
	self.claim = option(options, "claim", 0, 0, 100)
	self.lease = option(options, "lease", 30, 1, 3600)
	self.budget = math.max(1, math.floor(REQUESTS_PER_MINUTE * share))
	self._auth = auth
	self._handlers = {}
	self._sent = {} -- send times inside the last WINDOW seconds, oldest first
	self._acks = {} -- acks waiting to ride on the next poll
	self._cursor = nil -- nil until the relay tells us: it resumes a consumer it knows
	self._lastBroadcast = 0 -- highest broadcast id run; a lost response makes the relay resend
	self._done = {} -- queue id -> result
	self._doneOrder = {}
	self._unhandled = {}
	self._state = "stopped"
	self._stopping = false
	self._notBefore = 0
	return self
end

--[[ Registers the handler for commands called `name`: handler(data, command). Its
return value becomes the ack's result; an error becomes {error = message}. ]]
function CommandRelay:on(name, handler)
	assert(type(name) == "string", "CommandRelay:on expects a command name")
	assert(type(handler) == "function", "CommandRelay:on expects a function")
	self._handlers[name] = handler
	return self
end

-- Requests sent after time t; sent is in ascending order.
local function countSince(sent, t)
	local n = 0
	for i = #sent, 1, -1 do
		if sent[i] <= t then
			break
		end
		n = n + 1
	end
	return n
end

-- Waits until a request fits in the budget share, then counts it. Two sliding
-- windows: the share over any 60 s, and a tenth of it over any 6 s, so a burst
-- cannot spend a minute's worth at once and leave the loop silent for the rest.
-- Publishes and polls count together; publishes stop at 80% of each window, so a
-- game publishing in a loop cannot starve the polls. kind: "poll", "publish" or
-- "close" (a closing server may use what the game left, never past the hard limit).
function CommandRelay:_takeSlot(kind)
	local perMinute = self.budget
	if kind == "publish" then
		perMinute = math.max(1, math.floor(self.budget * 0.8))
	elseif kind == "close" then
		perMinute = REQUESTS_PER_MINUTE - 1
	end
	local perBurst = math.max(1, math.ceil(perMinute / 10))
	if kind == "close" then
		perBurst = perMinute
	end
	while true do
		local now = os.clock()
		local sent = self._sent
		while sent[1] ~= nil and sent[1] <= now - WINDOW do
			table.remove(sent, 1)
		end
		local recent = countSince(sent, now - BURST)
		if #sent < perMinute and recent < perBurst then
			table.insert(sent, now)
			return
		end
		local wait
		if #sent >= perMinute then
			wait = sent[#sent - perMinute + 1] + WINDOW - now
		else
			wait = sent[#sent - perBurst + 1] + BURST - now
		end
		task.wait(math.max(wait, 0.001))
	end
end

--[[ Sends one JSON request. Returns status, decoded body (or nil) and headers, or
nil and a message when no response came (connection failure, timeout, limit). ]]
function CommandRelay:_request(method, path, body, kind)
	self:_takeSlot(kind)
	local request = { Url = self.url .. path, Method = method, Headers = {} }
	if self._auth ~= nil then
		request.Headers["Authorization"] = self._auth
	end
	if body ~= nil then
		request.Headers["Content-Type"] = "application/json"
		request.Body = HttpService:JSONEncode(body)
	end
	local ok, response = pcall(HttpService.RequestAsync, HttpService, request)
	if not ok then
		return nil, tostring(response)
	end
	local decoded = nil
	if response.Body ~= nil and response.Body ~= "" then
		local okDecode, value = pcall(HttpService.JSONDecode, HttpService, response.Body)
		if okDecode then
			decoded = value
		end
	end
	return response.StatusCode, decoded, response.Headers or {}
end

local function errorText(status, body)
	if type(body) == "table" and type(body.error) == "table" then
		return string.format("%d %s: %s", status, tostring(body.error.code), tostring(body.error.message))
	end
	return tostring(status)
end

--[[ Publishes a command to this relay's channel (or opts.channel) and returns the
stored command. opts: mode ("broadcast"/"queue"), target, ttl, key, maxAttempts,
channel. Raises an error when the relay refuses it or cannot be reached. ]]
function CommandRelay:publish(name, data, opts)
	opts = opts or {}
	local body = {
		name = name,
		data = data,
		mode = opts.mode,
		target = opts.target,
		ttl = opts.ttl,
		key = opts.key,
		max_attempts = opts.maxAttempts,
	}
	local channel = opts.channel or self.channel
	local status, response = self:_request("POST", "/v1/channels/" .. channel .. "/commands", body, "publish")
	if status == nil then
		error("CommandRelay: publish failed: " .. tostring(response), 2)
	end
	if (status == 200 or status == 201) and type(response) == "table" then
		if type(response.commands) == "table" then
			return response.commands[1]
		end
		return response.command
	end
	error("CommandRelay: publish refused: " .. errorText(status, response), 2)
end

-- The result sent back must be JSON the relay accepts, or the whole poll is refused.
function CommandRelay:_checkResult(command, result)
	if result == nil then
		return nil
	end
	local ok, encoded = pcall(HttpService.JSONEncode, HttpService, result)
	if not ok then
		log("result of", command.name, command.id, "is not JSON:", encoded)
		return { error = "result is not JSON" }
	end
	if #encoded > RESULT_LIMIT then
		log("result of", command.name, command.id, "is over 16 KiB")
		return { error = "result is over 16 KiB" }
	end
	return result
end

function CommandRelay:_run(command)
	local handler = self._handlers[command.name]
	if handler == nil then
		if not self._unhandled[command.name] then
			self._unhandled[command.name] = true
			log("no handler for command", command.name)
		end
		return { error = "no handler for " .. tostring(command.name) }
	end
	local ok, result = pcall(function()
		self._handlerThread = coroutine.running() -- so stop() can tell it is called from here
		return handler(command.data, command)
	end)
	self._handlerThread = nil
	if not ok then
		log("handler for", command.name, "failed on command", command.id, ":", result)
		return { error = tostring(result) }
	end
	return self:_checkResult(command, result)
end

function CommandRelay:_remember(id, result)
	self._done[id] = { result = result }
	table.insert(self._doneOrder, id)
	if #self._doneOrder > REMEMBER_DONE then
		self._done[table.remove(self._doneOrder, 1)] = nil
	end
end

-- Runs one poll's commands in id order and queues their acks.
function CommandRelay:_handleBatch(response)
	local batch = {}
	for _, command in ipairs(response.commands or {}) do
		table.insert(batch, command)
	end
	for _, command in ipairs(response.claims or {}) do
		table.insert(batch, command)
	end
	table.sort(batch, function(a, b)
		return a.id < b.id
	end)

	local cursor = response.cursor
	self._state = "handling"
	local confirmed = nil -- the last broadcast id run, if the batch is cut short
	for _, command in ipairs(batch) do
		if self._stopping then
			cursor = confirmed or self._cursor
			break
		end
		local lease = command.lease
		if type(lease) == "table" then
			-- Queue: a redelivery of one already run gets the remembered result.
			local done = self._done[command.id]
			local result
			if done ~= nil then
				result = done.result
			else
				result = self:_run(command)
				self:_remember(command.id, result)
			end
			table.insert(self._acks, { id = command.id, lease = lease.token, result = result })
		elseif command.id > self._lastBroadcast then
			local result = self:_run(command)
			self._lastBroadcast = command.id
			confirmed = command.id
			table.insert(self._acks, { id = command.id, result = result })
		end
	end
	if type(cursor) == "number" then
		self._cursor = cursor
	end
end

-- Takes as many pending acks as fit in one request body.
function CommandRelay:_takeAcks()
	local taken = {}
	local bytes = 0
	while self._acks[1] ~= nil do
		local size = #HttpService:JSONEncode(self._acks[1])
		if #taken >= ACKS_MAX or (taken[1] ~= nil and bytes + size > ACK_BYTES) then
			break
		end
		bytes = bytes + size
		table.insert(taken, table.remove(self._acks, 1))
	end
	return taken
end

local function giveBack(self, acks)
	for i = #acks, 1, -1 do
		table.insert(self._acks, 1, acks[i])
	end
end

--[[ One poll: sends acks, receives the next batch. Returns status, body, headers
(status nil on a network error). Acks that may not have arrived are kept. ]]
function CommandRelay:_poll(wait, claim, kind)
	local acks = self:_takeAcks()
	local body = { consumer = self.consumer, wait = wait, claim = claim, acks = acks }
	if claim > 0 then
		body.lease = self.lease
	end
	if self._cursor ~= nil then
		body.after = self._cursor
	end
	local status, response, headers = self:_request("POST", "/v1/channels/" .. self.channel .. "/poll", body, kind)
	if status == 200 and type(response) == "table" then
		local acked = {}
		for _, id in ipairs(response.acked or {}) do
			acked[id] = true
		end
		for _, ack in ipairs(acks) do
			if not acked[ack.id] then
				log("relay did not take the ack of command", ack.id, "(its lease may have expired)")
			end
		end
	elseif status == 400 or status == 413 then
		-- The relay refused the request itself: sending the same acks again would stall the loop.
		log("relay refused a poll, dropping", #acks, "acks:", errorText(status, response))
	else
		giveBack(self, acks)
	end
	return status, response, headers
end

function CommandRelay:_backoff(failures)
	local ceiling = math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ^ (failures - 1))
	return ceiling / 2 + math.random() * ceiling / 2
end

-- Sleeps until `t` in short steps, so stop() never waits out a long backoff.
function CommandRelay:_sleepUntil(t)
	while not self._stopping do
		local left = t - os.clock()
		if left <= 0 then
			return
		end
		task.wait(math.min(left, 0.25))
	end
end

function CommandRelay:_loop()
	repeat
		self:_pollUntilStopped()
		self:_flush()
	until self._stopping -- start() during the flush asks for another round
	self._state = "stopped"
end

function CommandRelay:_pollUntilStopped()
	local failures = 0
	local minGap = WINDOW / self.budget -- spreads polls over the minute instead of bursting
	while not self._stopping do
		self._state = "sleeping"
		self:_sleepUntil(self._notBefore)
		if self._stopping then
			break
		end
		local wait = self.wait
		if self._acks[1] ~= nil then
			wait = 0 -- acks left over from a full poll: send them now rather than hold
		end
		local started = os.clock()
		-- "holding": the relay may keep this poll up to `wait` s and has what it carries.
		if wait > 0 then
			self._state = "holding"
		else
			self._state = "polling"
		end
		local status, response, headers = self:_poll(wait, self.claim, "poll")
		if self._stopping then
			break -- closing: run nothing that arrived late (see stop)
		end
		local now = os.clock()
		if status == 200 and type(response) == "table" then
			if failures > 0 then
				log("relay reachable again")
			end
			failures = 0
			self:_handleBatch(response)
			local after = tonumber(response.poll_after_ms) or 0
			self._notBefore = math.max(now + after / 1000, started + minGap)
		else
			failures = failures + 1
			local delay = self:_backoff(failures)
			local retryAfter = headers and tonumber(headers["retry-after"])
			if (status == 429 or status == 503) and retryAfter ~= nil then
				delay = math.min(math.max(retryAfter, 0), 600)
			end
			if status == nil then
				log("poll failed:", response, string.format("- retrying in %.1f s", delay))
			else
				log("poll answered", errorText(status, response), string.format("- retrying in %.1f s", delay))
			end
			self._notBefore = now + delay
		end
	end
end

-- Sends the acks still pending, without waiting for new commands or taking leases.
function CommandRelay:_flush()
	self._state = "flushing"
	local tries = 0
	while self._acks[1] ~= nil and tries < 3 do
		tries = tries + 1
		local status = self:_poll(0, 0, "close")
		if status ~= 200 and self._acks[1] ~= nil then
			task.wait(0.5 * tries)
		end
	end
	if self._acks[1] ~= nil then
		log("closing with", #self._acks, "acks unsent")
	end
end

--[[ Starts the poll loop in its own thread and returns at once. The loop ends on
stop() or when the game closes. ]]
function CommandRelay:start()
	self._stopping = false
	if self._state ~= "stopped" then
		return self -- still running, or closing and now carrying on
	end
	self._state = "starting"
	if not self._boundToClose then
		self._boundToClose = true
		game:BindToClose(function()
			self:stop()
		end)
	end
	task.spawn(function()
		self:_loop()
	end)
	return self
end

--[[ Ends the loop: a running handler finishes and the acks of what was done are
sent before stop() returns (at most `timeout` seconds, default 10). A long poll the
relay is holding cannot be cancelled: stop() does not wait for it, and whatever it
brings is left unrun (the cursor stays, so start() receives it again; claims go
back to the queue when their lease ends). Called from a handler, it returns at
once and the loop ends when the handler does. ]]
function CommandRelay:stop(timeout)
	if self._state == "stopped" then
		return
	end
	self._stopping = true
	if self._handlerThread ~= nil and coroutine.running() == self._handlerThread then
		return
	end
	local deadline = os.clock() + (timeout or 10)
	while self._state ~= "stopped" and self._state ~= "holding" and os.clock() < deadline do
		task.wait(0.05)
	end
end

return CommandRelay
