"""End-to-end: `ferry sync` with Azure Blob locations against Azurite.

A local tree (nested and empty folders, an empty file, a file of several
blocks, UTF-8 names, symbolic links, modes, owners, nanosecond mtimes) goes
to a container and back, with a SAS token and with the account key, and must
come back identical; the no-change re-run transfers nothing; a change and a
delete are carried; a read-only SAS token used as a destination, an expired
one, a missing container and a token in the URL each end at once with a
message that names the cause and never repeats the token.

Under ctest the ferry_azurite fixture provides the server; by hand it starts
its own:

    cd tests/e2e && FERRY_BIN=$PWD/../../build-asan/ferry python3 -m unittest -v test_azure_sync
"""

import base64
import datetime
import hashlib
import hmac
import os
import urllib.parse
import urllib.request

import oracle
from oracle import FerryTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
AZURITE_SH = os.path.join(HERE, "..", "support", "azurite.sh")
AZ = None
BIG = 40 * (1 << 20) + 12345  # several 16 MiB blocks


def setUpModule():
    global AZ
    AZ = oracle.server_env("FERRY_TEST_AZURE_STATE", AZURITE_SH, "azurite")


def url(folder, container=None):
    return f"{AZ['FERRY_TEST_AZURE_ENDPOINT']}/{container or AZ['FERRY_TEST_AZURE_CONTAINER']}/{folder}"


def service_sas(permissions, expiry, container=None):
    """A service SAS for the fixture's container, or another (version
    2021-08-06)."""
    se = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    resource = (f"/blob/{AZ['FERRY_TEST_AZURE_ACCOUNT']}/"
                f"{container or AZ['FERRY_TEST_AZURE_CONTAINER']}")
    to_sign = "\n".join([permissions, "", se, resource, "", "", "", "2021-08-06", "c",
                         "", "", "", "", "", "", ""])
    key = base64.b64decode(AZ["FERRY_TEST_AZURE_KEY"])
    sig = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest()).decode()
    return urllib.parse.urlencode({"sv": "2021-08-06", "se": se, "sr": "c",
                                   "sp": permissions, "sig": sig})


def run(src, dst, *opts, sas=None, key=None, timeout=300):
    env = dict(os.environ)
    env.pop("FERRY_AZURE_SAS", None)
    env.pop("FERRY_AZURE_KEY", None)
    if key is not None:
        env["FERRY_AZURE_KEY"] = key
    else:
        env["FERRY_AZURE_SAS"] = AZ["FERRY_TEST_AZURE_SAS"] if sas is None else sas
    return oracle.sync(src, dst, *opts, env=env, timeout=timeout)


def blob_headers(name):
    """Get Blob Properties of NAME in the fixture's container, with the
    fixture's SAS token: the response headers, lower-cased."""
    quoted = urllib.parse.quote(name)
    req = urllib.request.Request(f"{url(quoted)}?{AZ['FERRY_TEST_AZURE_SAS']}", method="HEAD")
    with urllib.request.urlopen(req, timeout=30) as r:
        return {k.lower(): v for k, v in r.headers.items()}


def fresh():
    return "e2e-" + os.urandom(6).hex()


class AzureSync(FerryTestCase):
    def source(self):
        src = self.scratch("src")
        # What a container holds: UTF-8 names, keys up to 1024 bytes, no
        # FIFOs (links are kept as DataSync keeps them: their target as
        # content).
        oracle.make_tree(src, 21, files=50, dirs=6, odd_names=False, deep=False,
                         fifos=False, symlinks=False)
        os.symlink("big.bin", os.path.join(src, "link-to-big"))
        os.symlink("does/not/exist", os.path.join(src, "link-dangling"))
        oracle.write_file(os.path.join(src, "empty"), b"")
        oracle.write_file(os.path.join(src, "big.bin"), os.urandom(BIG))
        oracle.write_file(os.path.join(src, "caf\u00e9 \u6587\u5b57.txt"), b"unicode\n")
        os.makedirs(os.path.join(src, "empty-dir"))
        return src

    def assertSame(self, a, b):
        diffs = oracle.compare_trees(a, b, root=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))

    def test_round_trip_re_run_change_and_delete(self):
        src, folder = self.source(), fresh()
        up = run(src, url(folder))
        self.assertSuccess(up)
        self.assertNoFailures(up)
        again = run(src, url(folder))
        self.assertSuccess(again)
        self.assertEqual(again["FilesTransferred"], 0, again.describe())

        down = self.scratch("down")
        back = run(url(folder), down, key=AZ["FERRY_TEST_AZURE_KEY"])
        self.assertSuccess(back)
        self.assertSame(src, down)

        oracle.change_and_delete(src, "big.bin", "empty")
        third = run(src, url(folder), "--preserve-deleted-files", "REMOVE")
        self.assertSuccess(third)
        self.assertEqual(third["FilesTransferred"], 1, third.describe())
        down2 = self.scratch("down2")
        self.assertSuccess(run(url(folder), down2))
        self.assertSame(src, down2)

    def assertRefused(self, r, want, secret=None):
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertRegex(r.stderr, want)
        if secret:
            self.assertNotIn(secret, r.stderr + r.stdout)

    def test_refusals_name_their_cause(self):
        src = self.scratch("src")
        os.makedirs(src, exist_ok=True)
        oracle.write_file(os.path.join(src, "a.txt"), b"a\n")
        ro = AZ["FERRY_TEST_AZURE_SAS_READ_ONLY"]
        self.assertRefused(run(src, url(fresh()), sas=ro),
                           r"SAS token allows 'rl'; a destination needs", ro)
        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
        expired = service_sas("racwdl", past)
        self.assertRefused(run(src, url(fresh()), sas=expired),
                           r"SAS token expired at", expired)
        self.assertRefused(run(src, url("x", container="no-such-container"),
                               key=AZ["FERRY_TEST_AZURE_KEY"]),
                           r"no-such-container.*container does not exist")
        token = AZ["FERRY_TEST_AZURE_SAS"]
        self.assertRefused(run(src, url(fresh()) + "?" + token), r"FERRY_AZURE_SAS", token)
        both = dict(os.environ, FERRY_AZURE_SAS=token, FERRY_AZURE_KEY="x")
        r = oracle.sync(src, url(fresh()), env=both)
        self.assertRefused(r, r"either a SAS token .* or an account key")


if __name__ == "__main__":
    import unittest
    unittest.main()
