"""The tutorial's three endpoints, through nginx, as a drop-in for the Flask app."""

import json

from harness import Relay, check, run, test

TUTORIAL = {"CMDRELAY_TUTORIAL_OPEN": "1"}


def clear(relay):
    names = list(relay.get("/GetCommands").json["Data"].keys())
    if names:
        relay.delete("/DeleteCommands", names)


@test
def post_command_answers_exactly_the_tutorial_body(relay):
    clear(relay)
    r = relay.post("/PostCommand", {"kick": "Player1"})
    check(r.status == 201, "status", r)
    check(r.json == {"Server": "HTTP 201: Created"}, "body", r)


@test
def get_commands_returns_every_stored_command(relay):
    clear(relay)
    relay.post("/PostCommand", {"kick": "Player1", "say": {"text": "hello"}})
    r = relay.get("/GetCommands")
    check(r.status == 200, "status", r)
    check(r.json == {"Server": "HTTP 200: OK", "Data": {"kick": "Player1", "say": {"text": "hello"}}}, "body", r)


@test
def post_command_replaces_a_command_of_the_same_name(relay):
    clear(relay)
    relay.post("/PostCommand", {"kick": "Player1"})
    relay.post("/PostCommand", {"kick": "Player2"})
    r = relay.get("/GetCommands")
    check(r.json["Data"] == {"kick": "Player2"}, "last write wins", r)
    check(relay.sql("SELECT count(*) FROM commands WHERE name = 'kick'").strip() == "1", "one row left")


@test
def delete_commands_removes_named_and_ignores_unknown(relay):
    clear(relay)
    relay.post("/PostCommand", {"a": 1, "b": 2})
    r = relay.delete("/DeleteCommands", ["a", "never-posted"])
    check(r.status == 200 and r.json == {"Server": "HTTP 200: OK"}, "body", r)
    check(relay.get("/GetCommands").json["Data"] == {"b": 2}, "only b left")


@test
def values_of_every_json_type_round_trip(relay):
    clear(relay)
    values = {
        "s": "text", "i": 42, "neg": -7, "f": 0.1, "big": 9007199254740992, "exp": 1.5e300, "tiny": 5e-324,
        "t": True, "fa": False, "n": None, "arr": [1, "two", [3]], "obj": {"k": {"deep": [None]}},
        "uni": "h\u00e9llo \u2603 \U0001F600", "esc": "quote\" back\\ slash/ tab\t", "empty_obj": {}, "empty_arr": [],
    }
    r = relay.post("/PostCommand", values)
    check(r.status == 201, "post", r)
    got = relay.get("/GetCommands").json["Data"]
    check(got == values, "same values back", got)
    for k, v in values.items():
        if isinstance(v, float):
            check(type(got[k]) is float and got[k] == v, "same double for " + k, got[k])


@test
def names_with_unicode_round_trip(relay):
    clear(relay)
    relay.post("/PostCommand", {"b\u00e4n \U0001F528": "x"})
    check(relay.get("/GetCommands").json["Data"] == {"b\u00e4n \U0001F528": "x"}, "unicode name")


@test
def integers_beyond_2_53_are_refused(relay):
    clear(relay)
    r = relay.post("/PostCommand", raw=b'{"id": 9007199254740993}', headers={"Content-Type": "application/json"})
    check(r.status == 400 and r.error_code() == "invalid_json", "400", r)
    check("2^53" in r.json["error"]["message"], "message says why", r)
    check(relay.get("/GetCommands").json["Data"] == {}, "nothing stored")


@test
def empty_array_is_accepted_as_an_empty_object(relay):
    clear(relay)
    r = relay.post("/PostCommand", [])
    check(r.status == 201 and r.json == {"Server": "HTTP 201: Created"}, "[] is {}", r)


@test
def empty_delete_array_is_harmless(relay):
    r = relay.delete("/DeleteCommands", [])
    check(r.status == 200 and r.json == {"Server": "HTTP 200: OK"}, "body", r)


@test
def get_commands_ignores_a_query_string(relay):
    clear(relay)
    relay.post("/PostCommand", {"x": 1})
    r = relay.get("/GetCommands?cachebust=123&foo")
    check(r.status == 200 and r.json["Data"] == {"x": 1}, "query ignored", r)


@test
def commands_are_stored_as_inspectable_json_text(relay):
    clear(relay)
    relay.post("/PostCommand", {"say": {"text": "hi"}})
    out = relay.sql("SELECT json_extract(data, '$.text'), channel FROM commands WHERE name = 'say'")
    check(out.strip() == "hi|default", "sqlite3 reads the payload", out)
    out = relay.sql("SELECT created_at FROM commands_readable WHERE name = 'say'")
    check(len(out.strip()) == 24 and out.strip().endswith("Z") and "T" in out, "ISO-8601 view", out)


@test
def commands_survive_a_restart_of_relay_and_nginx(relay):
    clear(relay)
    relay.post("/PostCommand", {"persist": [1, 2, 3]})
    relay.restart_relay()
    relay.restart_nginx()
    r = relay.get("/GetCommands")
    check(r.json["Data"] == {"persist": [1, 2, 3]}, "still there", r)


@test
def post_command_with_a_wrong_type_stores_nothing(relay):
    clear(relay)
    for body in ([1, 2], "text", 5, None, True):
        r = relay.post("/PostCommand", raw=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        check(r.status == 400 and r.error_code() == "invalid_request", "400 for %r" % (body,), r)
    check(relay.get("/GetCommands").json["Data"] == {}, "nothing stored")


@test
def delete_commands_with_an_object_is_refused(relay):
    r = relay.delete("/DeleteCommands", {"a": 1})
    check(r.status == 400 and r.error_code() == "invalid_request", "object refused", r)
    r = relay.delete("/DeleteCommands", ["a", 5])
    check(r.status == 400 and "element 1" in r.json["error"]["message"], "non-string element named", r)


@test
def tutorial_channel_is_visible_in_the_store(relay):
    clear(relay)
    relay.post("/PostCommand", {"x": 1})
    check(relay.sql("SELECT DISTINCT channel FROM commands").strip() == "default", "default channel")


if __name__ == "__main__":
    run(lambda: Relay(env=TUTORIAL))
