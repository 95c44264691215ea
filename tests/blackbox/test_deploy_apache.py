"""Deployment behind Apache httpd, from the files shipped in deploy/apache
and deploy/shared-hosting: mod_fcgid at the root of a virtual host and under
a prefix, and plain CGI through the shipped .htaccess (with CGIPassAuth, and
with only its rewrite fallback); the body limit's 413 and the database
never served."""

import os
import re
import shutil

from harness import check, run, test
from servers import apache_fcgid, apache_htaccess, init_db, make_keys, open_up, scenario

SQLITE_MAGIC = b"SQLite format 3\x00"


def prepare(apache):
    """Creates the server's database and keys (before the server starts),
    owned by the user it serves as."""
    init_db(apache.db)
    keys = make_keys(apache.db)
    open_up(apache.data, apache.uid, apache.gid)
    return keys


def over_limit(apache, keys, size):
    headers = {"Content-Type": "application/json"}
    if keys:
        headers["Authorization"] = "Bearer " + keys["publish"]
    body = b'{"big": "' + b"x" * (size - 11) + b'"}'
    return apache.request("POST", "/PostCommand", raw=body, headers=headers)


@test
def apache_mod_fcgid_at_the_root_passes_the_scenario():
    a = apache_fcgid("cmdrelay.conf")
    keys = prepare(a)
    with a:
        scenario(a, keys)
        check("mod_fcgid" not in a.error_log() or "error" not in a.error_log().lower(), "no mod_fcgid errors",
              a.error_log()[-2000:])


@test
def apache_mod_fcgid_under_cgi_bin_passes_the_scenario():
    a = apache_fcgid("cmdrelay-prefix.conf", prefix="/cgi-bin/cmdrelay")
    keys = prepare(a)
    with a:
        scenario(a, keys)


@test
def apache_mod_fcgid_body_limit_answers_413_in_json():
    a = apache_fcgid("cmdrelay.conf")
    keys = prepare(a)
    with a:
        r = over_limit(a, keys, 64 * 1024 + 1)
        check(r.status == 413 and r.error_code() == "payload_too_large", "the relay's 413, in JSON", r)
        r = over_limit(a, keys, 200 * 1024)
        check(r.status == 413, "Apache's own 413 far over the limit", r)


@test
def apache_cgi_through_the_shipped_htaccess_passes_the_scenario():
    a = apache_htaccess()
    keys = prepare(a)
    with a:
        scenario(a, keys)


@test
def apache_cgi_script_path_without_rewriting_passes_the_scenario():
    # /relay/cmdrelay.cgi/v1/... : the program with PATH_INFO, as in a cgi-bin.
    a = apache_htaccess()
    a.prefix = "/relay/cmdrelay.cgi"
    keys = prepare(a)
    with a:
        scenario(a, keys)


@test
def apache_cgi_htaccess_fallback_passes_the_key_without_cgipassauth():
    a = apache_htaccess(without_cgipassauth=True)
    with open(os.path.join(a.htdocs, "relay", ".htaccess")) as f:
        check(not re.search(r"^\s*CGIPassAuth", f.read(), re.M), "the CGIPassAuth block is gone")
    keys = prepare(a)
    with a:
        if keys is None:
            print("# no keys in this build: nothing to pass")
            return
        scenario(a, keys)


@test
def apache_cgi_key_copied_before_an_internal_redirect_still_arrives():
    a = apache_htaccess(without_cgipassauth=True, copy_before_redirect_only=True)
    keys = prepare(a)
    with a:
        if keys is None:
            print("# no keys in this build: nothing to pass")
            return
        scenario(a, keys)


@test
def apache_cgi_body_limit_answers_413_in_json():
    a = apache_htaccess()
    keys = prepare(a)
    with a:
        r = over_limit(a, keys, 64 * 1024 + 1)
        check(r.status == 413 and r.error_code() == "payload_too_large", "the relay's 413, in JSON", r)


@test
def apache_cgi_never_serves_the_database_file():
    a = apache_htaccess()
    prepare(a)
    with a:
        folder = os.path.join(a.htdocs, "relay")
        # A copy of the database uploaded next to the program by mistake.
        shutil.copy(a.db, os.path.join(folder, "cmdrelay.db"))
        for name in ("cmdrelay.db-wal", "cmdrelay.db-shm"):
            open(os.path.join(folder, name), "wb").close()
        os.chmod(folder, 0o755)
        for path in ("/cmdrelay.db", "/cmdrelay.db-wal", "/cmdrelay.db-shm", "/CMDRELAY.DB", "/.htaccess",
                     "/cmdrelay.cgi/../cmdrelay.db", "/../cmdrelay.db", "/../data/cmdrelay.db", a.db):
            r = a.request("GET", path)
            check(r.status in (403, 404) and not r.raw.startswith(SQLITE_MAGIC), "GET /relay%s is refused" % path, r)


run()
