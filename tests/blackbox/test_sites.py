"""One relay process serving several sites' databases: nginx names each
request's database in the CMDRELAY_DB FastCGI parameter (here from an
X-Site header).  Nothing of one site may reach another: not its commands,
not its keys, and each database's WAL is checkpointed."""

import os
import shutil
import tempfile
import threading

from harness import Relay, check, create_key, run, sqlite3_cli, test

SITES = ("a", "b")


class Sites:
    """A relay whose main database is main.db, and sites a and b with
    databases of their own, each with an admin key."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cmdrelay-sites-")
        self.db = {name: os.path.join(self.dir, name + ".db") for name in ("main",) + SITES}
        self.keys = {name: create_key(self.db[name], ["admin"], label="site " + name) for name in SITES}
        extra = ("            set $site_db %s;\n" % self.db["main"] +
                 "".join('            if ($http_x_site = "%s") { set $site_db %s; }\n' % (name, self.db[name])
                         for name in SITES) +
                 "            fastcgi_param CMDRELAY_DB $site_db;")
        self.relay = Relay(env={"CMDRELAY_DB": self.db["main"]}, threads=8, nginx_extra=extra)

    def __enter__(self):
        self.relay.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            self.relay.__exit__(*exc)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, site, method, path, body=None, key=None):
        return self.relay.request(method, path, body=body, headers={"X-Site": site},
                                  auth=self.keys[site] if key is None else key)

    def sql(self, site, query):
        return sqlite3_cli(self.db[site], query)


@test
def concurrent_publishes_to_two_sites_land_each_in_its_own_database(sites):
    # Publishes that arrive together are committed together (group commit):
    # a group must never take in another site's.
    per_thread, threads_per_site = 40, 8
    failures = []

    def publish(site, t):
        for i in range(per_thread):
            r = sites.request(site, "POST", "/v1/channels/mixed/commands", {"name": "%s-%d-%d" % (site, t, i)})
            if r.status != 201:
                failures.append((site, r.status, r.text[:200]))

    workers = [threading.Thread(target=publish, args=(site, t)) for t in range(threads_per_site) for site in SITES]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    check(not failures, "every publish answered 201", failures[:3])
    expected = per_thread * threads_per_site
    for site in SITES:
        counts = sites.sql(site, "SELECT substr(name, 1, 1), count(*) FROM commands WHERE channel = 'mixed'"
                                 " GROUP BY 1 ORDER BY 1")
        check(counts == "%s|%d\n" % (site, expected), "site %s holds its %d commands and no other's" % (site, expected),
              counts)
    check(sites.sql("main", "SELECT count(*) FROM commands") == "0\n", "none in the relay's own database")


@test
def a_key_of_one_site_is_refused_by_another_even_right_after_its_use(sites):
    # The relay trusts a key it verified for a second; that trust is the
    # key's database's, not the process's.
    key_a = sites.keys["a"]
    for attempt in range(5):
        r = sites.request("a", "GET", "/v1/channels/c/commands?after=0", key=key_a)
        check(r.status == 200, "site a's key reads site a (attempt %d)" % attempt, r)
        r = sites.request("b", "GET", "/v1/channels/c/commands?after=0", key=key_a)
        check(r.status == 401 and r.json["error"]["code"] == "unauthorized",
              "site b refuses site a's key just after its use (attempt %d)" % attempt, r)
        r = sites.request("b", "POST", "/v1/channels/c/commands", {"name": "x"}, key=key_a)
        check(r.status == 401, "nor may it publish there (attempt %d)" % attempt, r)
    check(sites.sql("b", "SELECT count(*) FROM commands WHERE channel = 'c'") == "0\n", "nothing published to b")


@test
def a_sites_wal_is_checkpointed_into_its_database_file(sites):
    # The relay's checkpoint thread looks after its main database; a site's
    # connections keep SQLite's own checkpoints, so the site's file takes
    # in what is published and its WAL starts over.
    payload = {"blob": "y" * 2000}
    before = os.path.getsize(sites.db["b"])
    for i in range(80):
        r = sites.request("b", "POST", "/v1/channels/big/commands",
                          [{"name": "c", "data": payload, "ttl": 600} for _ in range(25)])
        check(r.status == 201, "publish %d" % i, r)
    size = os.path.getsize(sites.db["b"])
    wal = os.path.getsize(sites.db["b"] + "-wal")
    # 2,000 commands of 2 KB: about 4 MB, of which a 1000-page WAL holds
    # at most 4 MB before a commit checkpoints it.
    check(size >= before + 2_000_000, "the site's database file grew by checkpoints", before, size, wal)
    check(wal < 8_000_000, "the site's WAL stayed small", wal)
    print("# site database %d bytes, WAL %d bytes after 4 MB of commands" % (size, wal))


if __name__ == "__main__":
    run(Sites)
