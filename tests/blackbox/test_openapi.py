"""docs/openapi.yaml against the live relay: every answer of a scenario that
touches every endpoint is checked against its documented status and
schema, the relay's requests are refused exactly where the file says they
are invalid, and the file has exactly the relay's paths and methods.

Standard library only: the file keeps to plain block YAML, read by the small
loader below, and the schemas to the JSON Schema keywords the small
validator below knows (any other keyword fails the test rather than being
ignored).  Where PyYAML or jsonschema happen to be installed they check the
same things a second time."""

import json
import os
import re

from harness import SRCDIR, Relay, check, run, test
from v1util import fresh_channel

SPEC_PATH = os.path.join(SRCDIR, "docs", "openapi.yaml")
METHODS = ("get", "post", "delete", "put", "patch")


# --- a loader for the block YAML the file is written in -------------------------

def _strip_comment(line):
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == "\\" and quote == '"':
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'" and (i == 0 or line[i - 1] in " [,:-"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] == " "):
            return line[:i].rstrip()
    return line.rstrip()


def _scalar(text):
    text = text.strip()
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text == "[]":
        return []
    if text == "{}":
        return {}
    if text.startswith("["):
        check(text.endswith("]"), "one-line flow sequence", text)
        return [_scalar(x) for x in text[1:-1].split(",")]
    if text in ("null", "~"):
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    check(not text.startswith(("{", "&", "*", "!", "|", ">", "%", "@", "`")), "plain scalar", text)
    return text


def _split_key(text):
    """'key: value' -> (key, value text); the key may be double-quoted."""
    if text.startswith('"'):
        end = text.index('"', 1)
        key, rest = json.loads(text[:end + 1]), text[end + 1:]
    else:
        i = text.index(":")
        key, rest = text[:i], text[i:]
    check(rest == ":" or rest.startswith(": "), "mapping entry", text)
    return key, rest[1:].strip()


def load_yaml(text):
    lines = []
    for raw in text.split("\n"):
        stripped = _strip_comment(raw)
        indent = len(raw) - len(raw.lstrip(" "))
        lines.append((indent, stripped.strip(), raw))
    pos = [0]

    def skip_blank():
        while pos[0] < len(lines) and lines[pos[0]][1] == "":
            pos[0] += 1

    def block_scalar(style, parent_indent):
        out = []
        while pos[0] < len(lines):
            indent, content, raw = lines[pos[0]]
            if raw.strip() and indent <= parent_indent:
                break
            out.append(raw)
            pos[0] += 1
        while out and not out[-1].strip():
            out.pop()
        base = min(len(r) - len(r.lstrip(" ")) for r in out if r.strip())
        body = [r[base:] for r in out]
        if style[0] == "|":
            s = "\n".join(body)
        else:
            s, prev_blank = "", True
            for r in body:
                if not r.strip():
                    s += "\n"
                    prev_blank = True
                else:
                    s += ("" if prev_blank else " ") + r
                    prev_blank = False
        return s if style.endswith("-") else s + "\n"

    def value_after(rest, indent):
        if rest == "":
            skip_blank()
            if pos[0] < len(lines) and lines[pos[0]][0] > indent:
                return parse_block(lines[pos[0]][0])
            return None
        if rest in (">", ">-", "|", "|-"):
            return block_scalar(rest, indent)
        return _scalar(rest)

    def parse_mapping_entries(indent, first=None):
        out = {}
        while True:
            if first is not None:
                content, first = first, None
            else:
                skip_blank()
                if pos[0] >= len(lines) or lines[pos[0]][0] != indent or lines[pos[0]][1].startswith("- "):
                    return out
                content = lines[pos[0]][1]
                pos[0] += 1
            key, rest = _split_key(content)
            check(key not in out, "duplicate key", key)
            out[key] = value_after(rest, indent)

    def parse_block(indent):
        skip_blank()
        if lines[pos[0]][1].startswith("- ") or lines[pos[0]][1] == "-":
            seq = []
            while True:
                skip_blank()
                if pos[0] >= len(lines) or lines[pos[0]][0] != indent or not lines[pos[0]][1].startswith("-"):
                    return seq
                content = lines[pos[0]][1][1:].strip()
                pos[0] += 1
                if re.match(r'^("[^"]*"|[^\s"\'\[{][^:]*):( |$)', content):
                    seq.append(parse_mapping_entries(indent + 2, first=content))
                else:
                    seq.append(value_after(content, indent))
        return parse_mapping_entries(indent)

    doc = parse_block(0)
    skip_blank()
    check(pos[0] == len(lines), "the whole file was read", pos[0], lines[pos[0]] if pos[0] < len(lines) else None)
    return doc


def load_spec():
    with open(SPEC_PATH, encoding="utf-8") as f:
        text = f.read()
    spec = load_yaml(text)
    try:
        import yaml
    except ImportError:
        return spec
    check(yaml.safe_load(text) == spec, "PyYAML reads the same document as the test's loader")
    return spec


SPEC = load_spec()


# --- a validator for the JSON Schema keywords the file uses ----------------------

IGNORED = {"description", "default", "title", "examples", "summary"}
DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        check(set(node) == {"$ref"}, "a $ref stands alone", node)
        ref = node["$ref"]
        check(ref.startswith("#/"), "local $ref", ref)
        node = SPEC
        for part in ref[2:].split("/"):
            check(part in node, "the $ref resolves", ref)
            node = node[part]
    return node


def type_ok(value, t):
    return {"null": value is None, "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "string": isinstance(value, str), "array": isinstance(value, list),
            "object": isinstance(value, dict)}[t]


def errors(value, schema, where="$"):
    """Returns what is wrong with value under schema, as a list of strings."""
    schema = resolve(schema)
    out = []
    for k, v in schema.items():
        if k in IGNORED:
            continue
        if k == "type":
            types = v if isinstance(v, list) else [v]
            if not any(type_ok(value, t) for t in types):
                return ["%s: %r is not of type %s" % (where, value, v)]
        elif k == "properties":
            if isinstance(value, dict):
                for name, sub in v.items():
                    if name in value:
                        out += errors(value[name], sub, "%s.%s" % (where, name))
        elif k == "required":
            if isinstance(value, dict):
                out += ["%s: lacks %s" % (where, name) for name in v if name not in value]
        elif k == "additionalProperties":
            if isinstance(value, dict):
                extra = [n for n in value if n not in schema.get("properties", {})]
                if v is False:
                    out += ["%s: has unknown %s" % (where, n) for n in extra]
                elif isinstance(v, dict):
                    for n in extra:
                        out += errors(value[n], v, "%s.%s" % (where, n))
        elif k == "items":
            if isinstance(value, list):
                for i, item in enumerate(value):
                    out += errors(item, v, "%s[%d]" % (where, i))
        elif k in ("minItems", "maxItems", "maxProperties"):
            if isinstance(value, (list, dict)) and (len(value) < v if k == "minItems" else len(value) > v):
                out.append("%s: %d items, %s %d" % (where, len(value), k, v))
        elif k == "enum":
            if value not in v:
                out.append("%s: %r not in %r" % (where, value, v))
        elif k == "const":
            if value != v or type(value) is not type(v):
                out.append("%s: %r is not %r" % (where, value, v))
        elif k in ("minimum", "maximum"):
            if type_ok(value, "number") and (value < v if k == "minimum" else value > v):
                out.append("%s: %r beyond %s %r" % (where, value, k, v))
        elif k in ("minLength", "maxLength"):
            if isinstance(value, str) and (len(value) < v if k == "minLength" else len(value) > v):
                out.append("%s: %d characters, %s %d" % (where, len(value), k, v))
        elif k == "pattern":
            if isinstance(value, str) and not re.search(v, value):
                out.append("%s: %r does not match %s" % (where, value, v))
        elif k == "format":
            check(v == "date-time", "a known format", v)
            if isinstance(value, str) and not DATE_TIME.match(value):
                out.append("%s: %r is not a date-time" % (where, value))
        elif k in ("oneOf", "anyOf"):
            ok = [s for s in v if not errors(value, s, where)]
            if (len(ok) != 1) if k == "oneOf" else not ok:
                out.append("%s: %d of the %s schemas match" % (where, len(ok), k))
        elif k == "allOf":
            for s in v:
                out += errors(value, s, where)
        else:
            raise AssertionError("schema keyword %r is not known to the test's validator (%s)" % (k, where))
    return out


def inline(node, depth=0):
    """The schema with every $ref replaced by what it points at (for jsonschema)."""
    check(depth < 30, "no recursive schemas")
    node = resolve(node)
    if isinstance(node, dict):
        return {k: inline(v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(v, depth + 1) for v in node]
    return node


def valid(value, schema):
    """Validates with the test's validator and, where installed, with jsonschema too; returns the errors."""
    errs = errors(value, schema)
    try:
        import jsonschema
    except ImportError:
        return errs
    v = jsonschema.Draft202012Validator(inline(schema), format_checker=jsonschema.FormatChecker())
    lib_errs = [e.message for e in v.iter_errors(value)]
    check(bool(errs) == bool(lib_errs), "jsonschema agrees with the test's validator", errs, lib_errs)
    return errs


# --- the file against the relay --------------------------------------------------

def operation(template, method):
    path = SPEC["paths"].get(template)
    check(path is not None and method.lower() in path, "the file documents %s %s" % (method, template))
    return path[method.lower()]


def check_answer(template, method, r):
    """Checks a live answer: its status is documented for the operation, and its body matches the schema."""
    op = operation(template, method)
    documented = op["responses"].get(str(r.status))
    check(documented is not None, "status %d of %s %s is documented" % (r.status, method, template), r)
    documented = resolve(documented)
    content = documented.get("content", {})
    ctype = (r.header("Content-Type") or "").split(";")[0].strip()
    check(ctype in content, "content type %s documented for %d of %s %s" % (ctype, r.status, method, template))
    schema = content[ctype]["schema"]
    body = r.json if ctype == "application/json" else r.raw.decode("utf-8")
    check(ctype != "application/json" or r.json is not None or r.raw.strip() == b"null", "a JSON body", r)
    errs = valid(body, schema)
    check(not errs, "%s %s -> %d matches its schema" % (method, template, r.status), errs[:5], r)
    for header in documented.get("headers", {}):
        check(r.header(header) is not None, "%s sent with %d" % (header, r.status), r.headers)
    return r


def request_schema(template, method):
    return operation(template, method)["requestBody"]["content"]["application/json"]["schema"]


class Scenario:
    """Sends requests, checks each answer against the file, and counts what was covered."""

    def __init__(self, relay):
        self.relay = relay
        self.seen = set()

    def send(self, method, template, path, body=None, expect=None, **kw):
        r = self.relay.request(method, path, body=body, **kw)
        if expect is not None:
            check(r.status == expect, "%s %s answers %d" % (method, path, expect), r)
        check_answer(template, method, r)
        self.seen.add((template, method.lower(), r.status))
        return r


def keys_in_use(relay):
    return getattr(relay, "key", None) is not None


@test
def the_file_is_openapi_3_1_with_unique_operation_ids_and_resolvable_refs(relay):
    check(SPEC["openapi"] == "3.1.0", "OpenAPI 3.1", SPEC.get("openapi"))
    check({"title", "version"} <= set(SPEC["info"]), "info")
    ids = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(SPEC)
    for template, item in SPEC["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            check(method in METHODS, "a method", template, method)
            ids.append(op["operationId"])
            check(op["responses"], "responses", template, method)
            names = re.findall(r"\{(\w+)\}", template)
            params = [resolve(p) for p in item.get("parameters", []) + op.get("parameters", [])]
            check(sorted(p["name"] for p in params if p["in"] == "path") == sorted(names), "path parameters", template)
    check(len(ids) == len(set(ids)), "operationIds are unique", ids)
    try:
        from openapi_spec_validator import validate
    except ImportError:
        return
    validate(SPEC)


@test
def objects_with_known_fields_refuse_others_in_the_file_as_the_relay_does(relay):
    def walk(node, where):
        node = resolve(node)
        if isinstance(node, dict):
            if "properties" in node:
                check(node.get("additionalProperties") is False, "additionalProperties: false", where)
            for k, v in node.items():
                walk(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s/%d" % (where, i))
    walk(SPEC["paths"], "#/paths")
    for name in ("NewCommand", "ClaimRequest", "AckRequest", "PollRequest", "PollAck"):
        check(SPEC["components"]["schemas"][name]["additionalProperties"] is False, name)


@test
def the_file_has_exactly_the_relays_paths(relay):
    with open(os.path.join(SRCDIR, "fcgi", "route.c"), encoding="utf-8") as f:
        source = f.read()
    patterns = set(re.findall(r'\[ROUTE_[A-Z0-9_]+\]\s*=\s*\{\s*"([^"]+)"', source))
    check(len(patterns) >= 12, "routes found in fcgi/route.c", patterns)
    check(patterns == set(SPEC["paths"]), "same paths", sorted(patterns ^ set(SPEC["paths"])))


@test
def the_file_has_exactly_the_relays_methods_on_each_path(relay):
    for template, item in SPEC["paths"].items():
        path = template.replace("{ch}", "cov").replace("{id}", "1")
        documented = sorted(m.upper() for m in item if m in METHODS)
        r = relay.request("PUT", path, body={})
        check(r.status == 405, "PUT %s is not a method of the relay" % path, r)
        allow = sorted(m.strip() for m in (r.header("Allow") or "").split(","))
        check(allow == documented, "the relay allows what the file documents on %s" % template, allow, documented)
        for method in documented:
            body = None if method in ("GET", "DELETE") else {}
            if template == "/DeleteCommands":
                body = []
            r = relay.request(method, path, body=body)
            check(r.status not in (404, 405) or r.error_code() == "not_found" and "no such endpoint" not in r.raw.decode(),
                  "%s %s is served" % (method, path), r)


@test
def every_answer_of_a_full_scenario_matches_the_file(relay):
    s = Scenario(relay)
    ch = fresh_channel("oa")
    cmds = "/v1/channels/{ch}/commands"
    one = "/v1/channels/{ch}/commands/{id}"
    s.send("GET", "/v1/health", "/v1/health", expect=200)
    b = s.send("POST", cmds, "/v1/channels/%s/commands" % ch, {"name": "say", "data": {"text": "hi"}, "key": "k1"},
               expect=201).json["commands"][0]
    s.send("POST", cmds, "/v1/channels/%s/commands" % ch, {"name": "say", "key": "k1"}, expect=200)
    batch = s.send("POST", cmds, "/v1/channels/%s/commands" % ch,
                   [{"name": "job", "mode": "queue", "data": [1, 2], "ttl": 600, "max_attempts": 3},
                    {"name": "only-a", "target": "srv-a"}, {"name": "job2", "mode": "queue", "target": "srv-a"}],
                   expect=201).json["commands"]
    s.send("POST", cmds, "/v1/channels/%s/commands" % ch, [{"name": "x", "key": "k1"}], expect=200)
    s.send("GET", cmds, "/v1/channels/%s/commands" % ch, expect=200)
    s.send("GET", cmds, "/v1/channels/%s/commands?limit=0" % ch, expect=200)
    s.send("GET", cmds, "/v1/channels/%s/commands?consumer=srv-a&after=0&limit=100&wait=0" % ch, expect=200)
    s.send("GET", cmds, "/v1/channels/%s/commands?wait=1&after=%d" % (ch, batch[-1]["id"]), expect=200)
    got = s.send("POST", "/v1/channels/{ch}/claims", "/v1/channels/%s/claims" % ch,
                 {"consumer": "srv-a", "max": 1, "lease": 60}, expect=200).json["commands"][0]
    s.send("POST", "/v1/channels/{ch}/claims", "/v1/channels/%s/claims" % ch, {"consumer": "srv-b", "wait": 0},
           expect=200)
    s.send("POST", one + "/ack", "/v1/channels/%s/commands/%d/ack" % (ch, got["id"]),
           {"consumer": "srv-a", "lease": "0" * 32}, expect=409)
    s.send("POST", one + "/ack", "/v1/channels/%s/commands/%d/ack" % (ch, got["id"]),
           {"consumer": "srv-a", "lease": got["lease"]["token"], "result": {"ok": True}}, expect=200)
    s.send("POST", one + "/ack", "/v1/channels/%s/commands/%d/ack" % (ch, b["id"]),
           {"consumer": "srv-a", "result": "seen"}, expect=200)
    s.send("POST", one + "/ack", "/v1/channels/%s/commands/%d/ack" % (ch, b["id"] + 100000),
           {"consumer": "srv-a"}, expect=404)
    s.send("GET", one, "/v1/channels/%s/commands/%d" % (ch, got["id"]), expect=200)
    s.send("GET", one, "/v1/channels/%s/commands/%d" % (ch, b["id"]), expect=200)
    p = s.send("POST", "/v1/channels/{ch}/poll", "/v1/channels/%s/poll" % ch,
               {"consumer": "srv-a", "claim": 5, "lease": 30}, expect=200).json
    s.send("POST", "/v1/channels/{ch}/poll", "/v1/channels/%s/poll" % ch,
           {"consumer": "srv-a", "after": p["cursor"], "wait": 0,
            "acks": [{"id": c["id"], "lease": c["lease"]["token"], "result": 1} for c in p["claims"]] +
                    [{"id": b["id"]}]}, expect=200)
    s.send("GET", "/v1/channels/{ch}/consumers", "/v1/channels/%s/consumers" % ch, expect=200)
    s.send("GET", "/v1/channels", "/v1/channels", expect=200)
    s.send("GET", "/metrics", "/metrics", expect=200)
    s.send("DELETE", one, "/v1/channels/%s/commands/%d" % (ch, batch[1]["id"]), expect=200)
    s.send("DELETE", one, "/v1/channels/%s/commands/%d" % (ch, batch[1]["id"]), expect=404)
    s.send("GET", one, "/v1/channels/%s/commands/abc" % ch, expect=404)
    # Errors.
    s.send("POST", cmds, "/v1/channels/%s/commands" % ch, {"name": "x", "bogus": 1}, expect=400)
    s.send("POST", cmds, "/v1/channels/%s/commands" % ch, raw=b"{", headers={"Content-Type": "application/json"},
           expect=400)
    s.send("POST", cmds, "/v1/channels/-bad/commands", {"name": "x"}, expect=400)
    s.send("POST", cmds, "/v1/channels/%s/commands" % ch, raw=b'{"name": "x"}',
           headers={"Content-Type": "text/plain"}, expect=415)
    s.send("POST", cmds, "/v1/channels/%s/commands" % ch, raw=b"[" + b" " * 70000 + b"]",
           headers={"Content-Type": "application/json"}, expect=413)
    s.send("GET", cmds, "/v1/channels/%s/commands?limit=101" % ch, expect=400)
    s.send("GET", "/v1/health", "/v1/health?x=1", expect=400)
    full = fresh_channel("full")
    s.send("POST", cmds, "/v1/channels/%s/commands" % full, [{"name": "n%d" % i} for i in range(20)], expect=201)
    s.send("POST", cmds, "/v1/channels/%s/commands" % full, {"name": "one-too-many"}, expect=429)
    # The tutorial's endpoints.
    s.send("POST", "/PostCommand", "/PostCommand", {"kick": "Player1"}, expect=201)
    s.send("GET", "/GetCommands", "/GetCommands", expect=200)
    s.send("DELETE", "/DeleteCommands", "/DeleteCommands", ["kick"], expect=200)
    s.send("POST", "/PostCommand", "/PostCommand", raw=b"[1]", headers={"Content-Type": "application/json"},
           expect=400)
    if keys_in_use(relay):
        s.send("POST", cmds, "/v1/channels/%s/commands" % ch, {"name": "x"}, auth=None, expect=401)
        consume = relay.create_key(["consume"])
        s.send("POST", cmds, "/v1/channels/%s/commands" % ch, {"name": "x"}, auth=consume, expect=403)
        s.send("GET", "/v1/health", "/v1/health", auth=None, expect=200)
    # Every operation of the file was answered with a documented success.
    for template, item in SPEC["paths"].items():
        for method in item:
            if method in METHODS:
                check(any(t == template and m == method and st < 300 for t, m, st in s.seen),
                      "the scenario covered %s %s" % (method.upper(), template))


@test
def the_relay_refuses_a_request_exactly_when_the_file_says_it_is_invalid(relay):
    ch = fresh_channel("oa")
    cmds, claims, poll = "/v1/channels/{ch}/commands", "/v1/channels/{ch}/claims", "/v1/channels/{ch}/poll"
    pub = relay.post("/v1/channels/%s/commands" % ch, {"name": "q", "mode": "queue"}).json["commands"][0]
    ack = "/v1/channels/{ch}/commands/{id}/ack"
    cases = [
        (cmds, {"name": "x"}), (cmds, {"name": "x", "data": None, "mode": "queue", "target": None, "ttl": 1,
                                       "key": None, "max_attempts": 100}),
        (cmds, [{"name": "a"}, {"name": "b", "ttl": 604800}]), (cmds, {"name": ""}), (cmds, {"name": "n" * 65}),
        (cmds, {}), (cmds, []), (cmds, [{"name": "a"}] * 101), (cmds, {"name": "x", "ttl": 0}),
        (cmds, {"name": "x", "ttl": 604801}), (cmds, {"name": "x", "ttl": 1.5}), (cmds, {"name": "x", "ttl": "3"}),
        (cmds, {"name": "x", "mode": "fanout"}), (cmds, {"name": "x", "target": "a b"}),
        (cmds, {"name": "x", "key": ""}), (cmds, {"name": "x", "key": "k" * 129}),
        (cmds, {"name": "x", "max_attempts": 0}), (cmds, {"name": "x", "colour": 1}), (cmds, "x"),
        (claims, {"consumer": "w"}), (claims, {"consumer": "w", "max": 100, "lease": 3600, "wait": 0}),
        (claims, {}), (claims, {"consumer": ""}), (claims, {"consumer": "w", "max": 0}),
        (claims, {"consumer": "w", "max": 101}), (claims, {"consumer": "w", "lease": 3601}),
        (claims, {"consumer": "w", "wait": 26}), (claims, {"consumer": "w", "count": 1}),
        (poll, {"consumer": "w"}), (poll, {"consumer": "w", "after": 0, "claim": 0, "lease": 1, "acks": []}),
        (poll, {"consumer": "w", "acks": [{"id": 1, "lease": "x", "result": None}]}),
        (poll, {"consumer": "w", "acks": [{"lease": "x"}]}), (poll, {"consumer": "w", "acks": [{"id": 0}]}),
        (poll, {"consumer": "w", "acks": [{"id": 1}] * 101}), (poll, {"consumer": "w", "claim": 101}),
        (poll, {"consumer": "w", "after": -1}), (poll, {"consumer": "w", "acks": {}}),
        (ack, {"consumer": "w", "lease": "x"}), (ack, {"consumer": "w", "lease": ""}), (ack, {"lease": "x"}),
        (ack, {"consumer": "w", "lease": "x", "result": [1], "extra": 1}),
    ]
    for template, body in cases:
        path = template.replace("{ch}", ch).replace("{id}", str(pub["id"]))
        by_file = not valid(body, request_schema(template, "post"))
        r = relay.post(path, body)
        check((r.status != 400) == by_file, "the relay and the file agree on %s %r" % (template, body),
              "file says valid" if by_file else "file says invalid", r)
        check_answer(template, "post", r)
    params = resolve(operation(cmds, "get"))["parameters"]
    for query, ok in (("after=0&limit=100&wait=0&consumer=a.b:c-d_e", True), ("limit=101", False),
                      ("limit=-1", False), ("wait=26", False), ("after=-1", False), ("consumer=a%20b", False)):
        values = dict(kv.split("=") for kv in query.split("&"))
        by_file = all(not valid(int(v) if re.fullmatch(r"-?\d+", v) else v.replace("%20", " "),
                                next(p["schema"] for p in params if p["name"] == k)) for k, v in values.items())
        r = relay.get("/v1/channels/%s/commands?%s" % (ch, query))
        check((r.status == 200) == by_file == ok, "the relay and the file agree on ?%s" % query, r)


if __name__ == "__main__":
    run(lambda: Relay(env={"CMDRELAY_CHANNEL_LIMIT": "20", "CMDRELAY_TUTORIAL_OPEN": "1"}))
