"""v1: publishing commands (one or a batch), dedup keys, looking one up and
cancelling it, through nginx."""

from harness import Relay, check, run, test
from v1util import check_command, error, fresh_channel, ms, publish, publish_one


def count_rows(relay, channel):
    return int(relay.sql("SELECT count(*) FROM commands WHERE channel = '%s'" % channel).strip())


@test
def publish_one_command_answers_201_with_the_defaults(relay):
    ch = fresh_channel()
    r = relay.post("/v1/channels/%s/commands" % ch, {"name": "kick"})
    check(r.status == 201, "201", r)
    check(set(r.json) == {"commands"} and len(r.json["commands"]) == 1, "one command back", r)
    c = check_command(r.json["commands"][0], channel=ch, name="kick", data=None, mode="broadcast", target=None,
                      key=None, state="pending", attempts=0, result=None)
    check(ms(c["expires_at"]) - ms(c["created_at"]) == 3600 * 1000, "ttl defaults to 3600 s", c)
    check(relay.sql("SELECT max_attempts FROM commands WHERE id = %d" % c["id"]).strip() == "5", "max_attempts 5")


@test
def publish_keeps_every_field_given(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch, name="give", data={"item": "sword", "n": [1, 2.5, None, True]}, mode="queue",
                    target="job-1:a.b_c", ttl=60, key="order-17", max_attempts=3)
    check_command(c, name="give", data={"item": "sword", "n": [1, 2.5, None, True]}, mode="queue",
                  target="job-1:a.b_c", key="order-17", state="pending", attempts=0)
    check(ms(c["expires_at"]) - ms(c["created_at"]) == 60 * 1000, "ttl 60 s", c)
    check(relay.sql("SELECT max_attempts FROM commands WHERE id = %d" % c["id"]).strip() == "3", "max_attempts kept")


@test
def publish_batch_answers_in_the_order_given_with_increasing_ids(relay):
    ch = fresh_channel()
    got = publish(relay, ch, [{"name": "a"}, {"name": "b", "mode": "queue"}, {"name": "c", "data": 3}])
    check([c["name"] for c in got] == ["a", "b", "c"], "order given", got)
    ids = [c["id"] for c in got]
    check(ids == sorted(ids) and len(set(ids)) == 3, "increasing ids", ids)


@test
def publish_batch_of_100_is_accepted_and_of_101_refused(relay):
    ch = fresh_channel()
    got = publish(relay, ch, [{"name": "n%d" % i} for i in range(100)])
    check(len(got) == 100, "100 stored", len(got))
    r = relay.post("/v1/channels/%s/commands" % ch, [{"name": "n%d" % i} for i in range(101)])
    error(r, 400, "invalid_request", "100")
    check(count_rows(relay, ch) == 100, "nothing more stored")


@test
def batch_with_one_invalid_command_stores_nothing_and_names_index_and_field(relay):
    ch = fresh_channel()
    cases = [
        ([{"name": "ok"}, {"name": "ok"}, {"name": "bad", "ttl": 0}], "commands[2].ttl"),
        ([{"name": "ok"}, {"name": "bad", "colour": "red"}], "commands[1].colour"),
        ([{"name": "ok"}, {"data": 1}], "commands[1].name"),
        ([{"name": "ok"}, {"name": "bad", "mode": "fanout"}], "commands[1].mode"),
        ([{"name": "ok"}, {"name": "bad", "target": "no spaces"}], "commands[1].target"),
        ([{"name": "ok"}, {"name": "bad", "max_attempts": 101}], "commands[1].max_attempts"),
        ([{"name": "ok"}, {"name": "bad", "key": "k" * 129}], "commands[1].key"),
        ([{"name": "ok"}, {"name": "bad", "data": "x" * 17000}], "commands[1].data"),
        ([{"name": "ok"}, {"name": ""}], "commands[1].name"),
        ([{"name": "ok"}, {"name": "ok"}, {"name": "ok"}, 7], "commands[3]"),
    ]
    for body, named in cases:
        r = relay.post("/v1/channels/%s/commands" % ch, body)
        error(r, 400, "invalid_request", named)
    check(count_rows(relay, ch) == 0, "nothing stored (sqlite3)")
    check(relay.get("/v1/channels/%s/commands" % ch).json["commands"] == [], "nothing to read")


@test
def empty_array_body_is_an_empty_command_which_lacks_a_name(relay):
    ch = fresh_channel()
    error(relay.post("/v1/channels/%s/commands" % ch, []), 400, "invalid_request", "name is required")
    error(relay.post("/v1/channels/%s/commands" % ch, [[]]), 400, "invalid_request", "commands[0].name")
    check(count_rows(relay, ch) == 0, "nothing stored")


@test
def publish_body_must_be_a_command_or_an_array_of_them(relay):
    ch = fresh_channel()
    for raw in (b'"kick"', b"5", b"null", b"true"):
        r = relay.post("/v1/channels/%s/commands" % ch, raw=raw, headers={"Content-Type": "application/json"})
        error(r, 400, "invalid_request")
    error(relay.post("/v1/channels/%s/commands" % ch, raw=b"", headers={"Content-Type": "application/json"}),
          400, "invalid_json")
    error(relay.post("/v1/channels/%s/commands" % ch, raw=b'{"name": "x",}',
                     headers={"Content-Type": "application/json"}), 400, "invalid_json")
    check(count_rows(relay, ch) == 0, "nothing stored")


@test
def command_name_is_1_to_64_bytes_without_control_characters(relay):
    ch = fresh_channel()
    publish_one(relay, ch, name="n" * 64)
    publish_one(relay, ch, name="\U0001F600" * 16)          # 64 bytes of UTF-8
    publish_one(relay, ch, name="h\u00e9 llo/\u2603\u00a0")
    for bad in ("", "n" * 65, "\U0001F600" * 17, "tab\there", "nl\n", "del\x7f", "nul\x00", "c1\u0085", "c1\u009f"):
        error(relay.post("/v1/channels/%s/commands" % ch, {"name": bad}), 400, "invalid_request", "name")
    error(relay.post("/v1/channels/%s/commands" % ch, {"name": 5}), 400, "invalid_request", "name")
    check(count_rows(relay, ch) == 3, "only the good names stored")


@test
def ttl_is_1_to_604800_seconds(relay):
    ch = fresh_channel()
    for good in (1, 604800):
        c = publish_one(relay, ch, ttl=good)
        check(ms(c["expires_at"]) - ms(c["created_at"]) == good * 1000, "ttl %d" % good, c)
    for bad in (0, -1, 604801):
        error(relay.post("/v1/channels/%s/commands" % ch, {"name": "x", "ttl": bad}), 400, "invalid_request", "ttl")


@test
def max_attempts_is_1_to_100(relay):
    ch = fresh_channel()
    publish_one(relay, ch, mode="queue", max_attempts=1)
    publish_one(relay, ch, mode="queue", max_attempts=100)
    for bad in (0, 101):
        error(relay.post("/v1/channels/%s/commands" % ch, {"name": "x", "max_attempts": bad}), 400,
              "invalid_request", "max_attempts")


@test
def target_is_a_consumer_id(relay):
    ch = fresh_channel()
    publish_one(relay, ch, target="a" * 128)
    publish_one(relay, ch, target="00000000-1111-2222-3333-444444444444")
    for bad in ("", "a" * 129, "sp ace", "sl/ash", "\u00e9"):
        error(relay.post("/v1/channels/%s/commands" % ch, {"name": "x", "target": bad}), 400, "invalid_request",
              "target")


@test
def dedup_key_of_a_live_command_returns_it_with_200_and_stores_nothing(relay):
    ch = fresh_channel()
    first = publish_one(relay, ch, name="grant", key="purchase-1", data={"gems": 100})
    r = relay.post("/v1/channels/%s/commands" % ch, {"name": "grant", "key": "purchase-1", "data": {"gems": 999}})
    check(r.status == 200, "200 for an existing key", r)
    check(r.json["commands"] == [first], "the existing command, unchanged", r.json, first)
    check(count_rows(relay, ch) == 1, "one row")


@test
def dedup_in_a_batch_is_201_when_anything_is_stored_else_200(relay):
    ch = fresh_channel()
    a = publish_one(relay, ch, name="a", key="ka")
    r = relay.post("/v1/channels/%s/commands" % ch, [{"name": "a2", "key": "ka"}, {"name": "b", "key": "kb"}])
    check(r.status == 201, "201: b was stored", r)
    check(r.json["commands"][0] == a, "element 0 is the existing command", r.json)
    check(r.json["commands"][1]["name"] == "b" and r.json["commands"][1]["id"] > a["id"], "element 1 is new", r.json)
    r2 = relay.post("/v1/channels/%s/commands" % ch, [{"name": "x", "key": "kb"}, {"name": "y", "key": "ka"}])
    check(r2.status == 200, "200: nothing stored", r2)
    check([c["id"] for c in r2.json["commands"]] == [r.json["commands"][1]["id"], a["id"]], "both existing", r2)
    check(count_rows(relay, ch) == 2, "two rows")


@test
def dedup_key_repeated_within_one_batch_returns_the_first(relay):
    ch = fresh_channel()
    got = publish(relay, ch, [{"name": "one", "key": "k"}, {"name": "two", "key": "k"}, {"name": "three"}])
    check(got[1] == got[0] and got[0]["name"] == "one", "second element is the first command", got)
    check(count_rows(relay, ch) == 2, "two rows")


@test
def dedup_keys_are_per_channel(relay):
    a, b = fresh_channel(), fresh_channel()
    ca = publish_one(relay, a, key="same")
    cb = publish_one(relay, b, key="same")
    check(ca["id"] != cb["id"] and cb["channel"] == b, "a separate command in each channel")


@test
def dedup_key_is_free_again_once_the_command_is_cancelled(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch, key="k")
    check(relay.delete("/v1/channels/%s/commands/%d" % (ch, c["id"])).status == 200, "cancelled")
    c2 = publish_one(relay, ch, key="k")
    check(c2["id"] != c["id"], "a new command", c, c2)


@test
def dedup_key_is_free_again_once_the_command_expired(relay):
    import time
    ch = fresh_channel()
    c = publish_one(relay, ch, key="k", ttl=1)
    time.sleep(1.1)
    c2 = publish_one(relay, ch, key="k")
    check(c2["id"] != c["id"], "a new command after expiry", c, c2)


@test
def data_of_every_json_type_round_trips(relay):
    ch = fresh_channel()
    values = ["text", 42, -7, 0.1, 9007199254740992, -9007199254740992, 1.5e300, True, False, None, [1, [2, [3]]],
              {"k": {"deep": [None, {}]}}, {}, [], "h\u00e9llo \u2603 \U0001F600", "q\" b\\ s/ t\t \u0000"]
    got = publish(relay, ch, [{"name": "v%d" % i, "data": v} for i, v in enumerate(values)])
    check([c["data"] for c in got] == values, "publish answer", [c["data"] for c in got])
    read = relay.get("/v1/channels/%s/commands" % ch).json["commands"]
    check([c["data"] for c in read] == values, "read back", [c["data"] for c in read])
    check(type(read[3]["data"]) is float and type(read[4]["data"]) is int, "doubles stay doubles, ints ints")


@test
def data_up_to_16_kib_encoded_is_accepted(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch, data="x" * (16 * 1024 - 2))  # with its quotes: exactly 16384 bytes
    check(len(c["data"]) == 16 * 1024 - 2, "kept whole")
    error(relay.post("/v1/channels/%s/commands" % ch, {"name": "x", "data": "x" * (16 * 1024 - 1)}), 400,
          "invalid_request", "data")


@test
def get_command_returns_it_with_its_acks(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch, name="say", data={"text": "hi"})
    r = relay.get("/v1/channels/%s/commands/%d" % (ch, c["id"]))
    check(r.status == 200 and set(r.json) == {"command"}, "200 {command}", r)
    got = r.json["command"]
    check(got.pop("acks") == [], "no acks yet", got)
    check(got == c, "same command as published", got, c)


@test
def get_command_of_an_unknown_id_is_404(relay):
    ch, other = fresh_channel(), fresh_channel()
    c = publish_one(relay, ch)
    error(relay.get("/v1/channels/%s/commands/%d" % (ch, c["id"] + 100000)), 404, "not_found")
    error(relay.get("/v1/channels/%s/commands/%d" % (other, c["id"])), 404, "not_found")
    for bad in ("abc", "0", "-1", "1.5", "99999999999999999999"):
        error(relay.get("/v1/channels/%s/commands/%s" % (ch, bad)), 404, "not_found")


@test
def cancel_deletes_the_command_and_a_second_cancel_is_404(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch)
    keep = publish_one(relay, ch, name="keep")
    r = relay.delete("/v1/channels/%s/commands/%d" % (ch, c["id"]))
    check(r.status == 200 and r.json == {"deleted": 1}, "deleted 1", r)
    error(relay.delete("/v1/channels/%s/commands/%d" % (ch, c["id"])), 404, "not_found")
    error(relay.get("/v1/channels/%s/commands/%d" % (ch, c["id"])), 404, "not_found")
    read = relay.get("/v1/channels/%s/commands" % ch).json["commands"]
    check([x["id"] for x in read] == [keep["id"]], "never delivered once cancelled", read)


@test
def cancel_of_an_unknown_id_or_in_another_channel_is_404(relay):
    ch, other = fresh_channel(), fresh_channel()
    c = publish_one(relay, ch)
    error(relay.delete("/v1/channels/%s/commands/%d" % (other, c["id"])), 404, "not_found")
    error(relay.delete("/v1/channels/%s/commands/%d" % (ch, c["id"] + 100000)), 404, "not_found")
    check(relay.get("/v1/channels/%s/commands/%d" % (ch, c["id"])).status == 200, "still there")


@test
def channel_names_follow_the_pattern(relay):
    for good in ("a", "A" * 64, "0lobby", "a.b_c-d"):
        publish_one(relay, good)
    for bad in ("-a", ".a", "_a", "a" * 65, "a%20b", "a%21", "%C3%A9"):
        r = relay.post("/v1/channels/%s/commands" % bad, {"name": "x"})
        error(r, 400, "invalid_request", "channel")
        error(relay.get("/v1/channels/%s/commands" % bad), 400, "invalid_request", "channel")


@test
def publishing_to_a_queue_answers_state_pending_and_attempts_0(relay):
    ch = fresh_channel()
    c = publish_one(relay, ch, mode="queue")
    check_command(c, mode="queue", state="pending", attempts=0, result=None)


if __name__ == "__main__":
    run(lambda: Relay())
