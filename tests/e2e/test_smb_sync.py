"""End-to-end: `ferry sync` with smb:// locations against a real Samba smbd.

A local tree goes to an SMB share and back and must come back identical
(content, sizes, mtimes to the microsecond SMB keeps); what ferry wrote is
checked on the share's own folder and with smbclient; the no-change re-run
transfers nothing; a change and a delete are carried; the password never
appears on a command line (FERRY_SMB_PASSWORD, --smb-password-file); a
wrong password, a missing share and a server that does not listen each end
quickly with a message naming the location; a name SMB cannot hold fails
that file alone, and nothing partial is left on the share. Share to share,
Windows' attributes (read-only, hidden, system, archive) and creation times
are copied, changed alone, and do not stand in the way of replacing or
removing a read-only file.

Under ctest the ferry_samba fixture provides the server; by hand:

    cd tests/e2e && FERRY_BIN=$PWD/../../build-asan/ferry python3 -m unittest -v test_smb_sync
"""

import calendar
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import oracle
from oracle import FerryTestCase
from test_sync_changing_files import Writer

HERE = os.path.dirname(os.path.abspath(__file__))
SAMBA_SH = os.path.join(HERE, "..", "support", "samba.sh")
FAIL_FAST_S = 60
BIG = 9 * (1 << 20) + 12345  # several 4 MiB reads and writes
SMB = None


read_env = oracle.read_env  # nfs.py's


def setUpModule():
    global SMB
    # The perm share's user goes through the base folder.
    SMB = oracle.server_env("FERRY_TEST_SMB_STATE", SAMBA_SH, "samba",
                            prepare=lambda base: os.chmod(base, 0o711))


def smb_url(folder="", user=None, host=None, share=None):
    user = SMB["FERRY_TEST_SMB_USER"] if user is None else user
    host = host or SMB["FERRY_TEST_SMB_HOST"]
    share = share or SMB["FERRY_TEST_SMB_SHARE"]
    return f"smb://{user}@{host}/{share}" + (f"/{folder}" if folder else "")


def smb_env(password=None):
    env = dict(os.environ)
    env["FERRY_SMB_PASSWORD"] = SMB["FERRY_TEST_SMB_PASSWORD"] if password is None else password
    return env


def on_share(folder):
    """The share's folder on this machine."""
    return os.path.join(SMB["FERRY_TEST_SMB_DIR"], folder)


def fresh_folder(testcase):
    name = "e2e-" + os.urandom(6).hex()
    testcase.addCleanup(shutil.rmtree, on_share(name), True)
    return name


def run(src, dst, *opts, password=None, timeout=180):
    return oracle.sync(src, dst, *opts, env=smb_env(password), timeout=timeout)


def strays(root):
    """ferry's temporary files left anywhere beneath `root`."""
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.startswith(".ferry-tmp-")]
    return out


class SmbSync(FerryTestCase):
    def scratch(self, name=None):
        path = super().scratch(name)
        os.makedirs(path, exist_ok=True)
        return path

    def make_source(self, seed=7):
        src = self.scratch("src")
        # SMB holds UTF-8 names without \\ : * ? " < > | and keeps no owner,
        # mode or link: the tree has none of those.
        oracle.make_tree(src, seed, files=60, dirs=8, odd_names=False, symlinks=False,
                         fifos=False, owners=False, modes=False)
        oracle.write_file(os.path.join(src, "empty"), b"")
        oracle.write_file(os.path.join(src, "big.bin"), os.urandom(BIG))
        oracle.write_file(os.path.join(src, "caf\u00e9 \u6587\u5b57.txt"), b"unicode\n")
        os.makedirs(os.path.join(src, "empty-dir"))
        return src

    def assertSameFiles(self, a, b):
        # SMB keeps the mtime to the microsecond, and no owner or mode.
        diffs = oracle.compare_trees(a, b, mode=False, uid=False, gid=False, mtime=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))
        a, b = os.fsencode(a), os.fsencode(b)
        for rel in oracle.walk(a):
            st = os.lstat(os.path.join(a, rel))
            if not stat.S_ISREG(st.st_mode):
                continue
            other = os.stat(os.path.join(b, rel))
            self.assertEqual(st.st_mtime_ns // 1000, other.st_mtime_ns // 1000, rel)

    def test_round_trip_re_run_change_and_delete(self):
        src = self.make_source()
        folder = fresh_folder(self)
        up = run(src, smb_url(folder))
        self.assertSuccess(up)
        self.assertNoFailures(up)
        self.assertSameFiles(src, on_share(folder))
        self.assertEqual(strays(on_share(folder)), [])

        # smbclient (another client) sees what ferry wrote.
        host, port = SMB["FERRY_TEST_SMB_HOST"].rsplit(":", 1)
        p = subprocess.run(
            ["smbclient", f"//{host}/{SMB['FERRY_TEST_SMB_SHARE']}", "-p", port,
             "-U", SMB["FERRY_TEST_SMB_USER"], "-m", "SMB3", "-c", f"cd {folder}; ls"],
            input=SMB["FERRY_TEST_SMB_PASSWORD"] + "\n", capture_output=True, text=True,
            timeout=60, env={**os.environ, "PASSWD": SMB["FERRY_TEST_SMB_PASSWORD"]})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("big.bin", p.stdout)
        self.assertRegex(p.stdout, r"big\.bin\s+A?\s+%d\b" % BIG)

        again = run(src, smb_url(folder))
        self.assertSuccess(again)
        self.assertEqual(again["FilesTransferred"], 0, again.describe())

        down = self.scratch("down")
        back = run(smb_url(folder), down)
        self.assertSuccess(back)
        self.assertSameFiles(src, down)

        oracle.change_and_delete(src, "big.bin", "empty")
        third = run(src, smb_url(folder), "--preserve-deleted-files", "REMOVE")
        self.assertSuccess(third)
        self.assertEqual(third["FilesTransferred"], 1, third.describe())
        self.assertSameFiles(src, on_share(folder))
        self.assertFalse(os.path.exists(os.path.join(on_share(folder), "empty")))

    def test_password_file_and_no_password_on_the_command_line(self):
        src = self.scratch("src")
        oracle.write_file(os.path.join(src, "a.txt"), b"a\n")
        folder = fresh_folder(self)
        pw = os.path.join(self.scratch(), "pw")
        with open(pw, "w") as f:
            f.write(SMB["FERRY_TEST_SMB_PASSWORD"] + "\n")
        env = dict(os.environ)
        env.pop("FERRY_SMB_PASSWORD", None)
        r = oracle.sync(src, smb_url(folder), "--smb-password-file", pw, env=env)
        self.assertSuccess(r)
        with open(os.path.join(on_share(folder), "a.txt"), "rb") as f:
            self.assertEqual(f.read(), b"a\n")
        # A password in the URI is refused without being repeated.
        bad = oracle.sync(src, f"smb://{SMB['FERRY_TEST_SMB_USER']}:hunter2@"
                               f"{SMB['FERRY_TEST_SMB_HOST']}/{SMB['FERRY_TEST_SMB_SHARE']}",
                          env=env)
        self.assertNotEqual(bad.rc, 0)
        self.assertIn("FERRY_SMB_PASSWORD", bad.stderr)
        self.assertNotIn("hunter2", bad.stderr)

    def assertFailsFast(self, dst, want, password=None):
        src = self.scratch("src")
        oracle.write_file(os.path.join(src, "a.txt"), b"a\n")
        t0 = time.monotonic()
        r = run(src, dst, password=password, timeout=FAIL_FAST_S + 30)
        took = time.monotonic() - t0
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertIn("smb://", r.stderr)
        self.assertRegex(r.stderr, want)
        self.assertNotIn(SMB["FERRY_TEST_SMB_PASSWORD"], r.stderr + r.stdout)
        self.assertLess(took, FAIL_FAST_S, r.describe())

    def test_wrong_password(self):
        self.assertFailsFast(smb_url(fresh_folder(self)), r"cannot log on|password",
                             password="not-the-password")

    def test_missing_share(self):
        self.assertFailsFast(smb_url("x", share="no-such-share"), r"no-such-share.*does not exist")

    def test_nothing_listening(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.assertFailsFast(smb_url("x", host=f"127.0.0.1:{port}"), r"cannot reach")

    def test_a_name_smb_cannot_hold_fails_alone(self):
        src = self.scratch("src")
        oracle.write_file(os.path.join(src, "good.txt"), b"good\n")
        oracle.write_file(os.path.join(src, "bad:name.txt"), b"bad\n")
        folder = fresh_folder(self)
        r = run(src, smb_url(folder))
        self.assertEqual(r["Status"], "ERROR", r.describe())
        self.assertEqual(r["FilesFailed.Transfer"], 1, r.describe())
        self.assertIn("bad:name.txt", r.stdout + r.stderr)
        with open(os.path.join(on_share(folder), "good.txt"), "rb") as f:
            self.assertEqual(f.read(), b"good\n")
        self.assertEqual(strays(on_share(folder)), [])


def smbclient(folder, commands):
    """Runs smbclient `commands` in `folder` of the share; its output."""
    host, port = SMB["FERRY_TEST_SMB_HOST"].rsplit(":", 1)
    p = subprocess.run(
        ["smbclient", f"//{host}/{SMB['FERRY_TEST_SMB_SHARE']}", "-p", port,
         "-U", SMB["FERRY_TEST_SMB_USER"], "-m", "SMB3", "-c", f"cd {folder}; {commands}"],
        input=SMB["FERRY_TEST_SMB_PASSWORD"] + "\n", capture_output=True, text=True,
        timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"smbclient {commands}: {p.stdout}{p.stderr}")
    return p.stdout


def windows_metadata(folder, names):
    """{name: (create_time line, attributes)} as smbclient's allinfo tells."""
    out = smbclient(folder, "; ".join(f'allinfo "{n}"' for n in names))
    result, name = {}, None
    for line in out.splitlines():
        if line.startswith("altname:"):
            name = line.split(":", 1)[1].strip()
            result[name] = {}
        elif name and ":" in line and line.split(":", 1)[0] in ("create_time", "attributes"):
            k, v = line.split(":", 1)
            result[name][k] = v.strip()
    return result


class SmbToSmb(FerryTestCase):
    """Windows' attributes and creation times, share to share."""

    def assertSameWindowsMetadata(self, got, want):
        # Creation times are kept to the second (libsmbclient sets no finer),
        # which smbclient shows rounded.
        def seconds(line):
            return calendar.timegm(time.strptime(line, "%a %b %d %H:%M:%S %Y %Z"))

        self.assertEqual(sorted(got), sorted(want))
        for name in want:
            self.assertEqual(got[name]["attributes"], want[name]["attributes"], name)
            self.assertLessEqual(abs(seconds(got[name]["create_time"]) -
                                     seconds(want[name]["create_time"])), 1,
                                 (name, got[name], want[name]))

    def test_dos_attributes_and_creation_times_are_copied(self):
        src, dst = fresh_folder(self), fresh_folder(self)
        os.makedirs(os.path.join(on_share(src), "dir"))
        names = ["plain.txt", "ro.txt", "hidden.txt", "sys.txt", "dir"]
        for n in names[:-1]:
            oracle.write_file(os.path.join(on_share(src), n), n.encode() * 100)
        smbclient(src, "setmode plain.txt -a; setmode ro.txt +ra; setmode hidden.txt +h; "
                       "setmode sys.txt +sr; setmode dir +h")
        want = windows_metadata(src, names)
        self.assertIn("R", want["ro.txt"]["attributes"])
        time.sleep(2.5)  # what ferry creates is seconds younger

        r = run(smb_url(src), smb_url(dst))
        self.assertSuccess(r)
        self.assertNoFailures(r)
        self.assertSameWindowsMetadata(windows_metadata(dst, names), want)
        self.assertEqual(strays(on_share(dst)), [])

        again = run(smb_url(src), smb_url(dst))
        self.assertSuccess(again)
        self.assertEqual(again["FilesTransferred"], 0, again.describe())

        # An attribute changed alone is carried; a read-only file's new
        # content replaces it; a read-only file deleted at the source is
        # removed.
        smbclient(src, "setmode hidden.txt -h; setmode plain.txt +s")
        with open(os.path.join(on_share(src), "ro.txt"), "r+b") as f:
            f.write(b"CHANGED")
        oracle.bump_mtime(os.path.join(on_share(src), "ro.txt"))
        smbclient(src, "setmode sys.txt -r; del sys.txt")
        third = run(smb_url(src), smb_url(dst), "--preserve-deleted-files", "REMOVE")
        self.assertSuccess(third)
        self.assertNoFailures(third)
        names.remove("sys.txt")
        self.assertSameWindowsMetadata(windows_metadata(dst, names),
                                       windows_metadata(src, names))
        self.assertFalse(os.path.exists(os.path.join(on_share(dst), "sys.txt")))
        with open(os.path.join(on_share(dst), "ro.txt"), "rb") as f:
            self.assertTrue(f.read().startswith(b"CHANGED"))

    def test_a_local_tree_replaces_read_only_files_on_a_share(self):
        dst = fresh_folder(self)
        os.makedirs(on_share(dst))
        oracle.write_file(os.path.join(on_share(dst), "ro.txt"), b"old")
        smbclient(dst, "setmode ro.txt +rh")
        src = self.scratch("src")
        os.makedirs(src, exist_ok=True)
        oracle.write_file(os.path.join(src, "ro.txt"), b"new content")
        r = run(src, smb_url(dst))
        self.assertSuccess(r)
        self.assertNoFailures(r)
        with open(os.path.join(on_share(dst), "ro.txt"), "rb") as f:
            self.assertEqual(f.read(), b"new content")
        # And back: a read-only file on a share reads like any other.
        down = self.scratch("down")
        smbclient(dst, "setmode ro.txt +r")
        back = run(smb_url(dst), down)
        self.assertSuccess(back)
        with open(os.path.join(down, "ro.txt"), "rb") as f:
            self.assertEqual(f.read(), b"new content")


IMPACKET_PYTHON = "/usr/bin/python3"
# Opens a file of a share with share mode 0 (nobody else may open it, as a
# Windows application can), says "held", and keeps it open until stdin ends.
HOLD_OPEN = """
import os, sys
from impacket.smbconnection import SMBConnection
host, port, user, share, path = sys.argv[1:6]
conn = SMBConnection(host, host, sess_port=int(port))
conn.login(user, os.environ["SMB_PASSWORD"])
tid = conn.connectTree(share)
fid = conn.openFile(tid, path, shareMode=0)
print("held", flush=True)
sys.stdin.read()
conn.closeFile(tid, fid)
conn.logoff()
"""


class SeedCases(FerryTestCase):
    """The open and locked files of a file server's users."""

    def scratch(self, name=None):
        path = super().scratch(name)
        os.makedirs(path, exist_ok=True)
        return path

    def test_a_file_another_client_locks_is_skipped_and_the_rest_transfers(self):
        folder = fresh_folder(self)
        os.makedirs(on_share(folder))
        for i in range(5):
            oracle.write_file(os.path.join(on_share(folder), f"f{i}.txt"), b"x" * (100 + i))
        oracle.write_file(os.path.join(on_share(folder), "locked.db"), b"db" * 1000)
        host, port = SMB["FERRY_TEST_SMB_HOST"].rsplit(":", 1)
        # Debian's python3 has impacket (python3-impacket); the tests' python3
        # may be another one.
        holder = subprocess.Popen(
            [IMPACKET_PYTHON, "-c", HOLD_OPEN, host, port, SMB["FERRY_TEST_SMB_USER"],
             SMB["FERRY_TEST_SMB_SHARE"], f"{folder}\\locked.db"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "SMB_PASSWORD": SMB["FERRY_TEST_SMB_PASSWORD"]})
        try:
            self.assertEqual(holder.stdout.readline().strip(), "held")
            dst = self.scratch("dst")
            r = run(smb_url(folder), dst)
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
        self.assertEqual(r["Status"], "ERROR", r.describe())
        self.assertEqual(r["FilesTransferred"], 5, r.describe())
        self.assertEqual(r["FilesFailed.Transfer"], 1, r.describe())
        self.assertIn("locked.db", r.stdout + r.stderr)
        self.assertIn("another client", r.stdout + r.stderr)
        self.assertEqual(sorted(os.listdir(dst)), [f"f{i}.txt" for i in range(5)])
        # Once it is closed, the next run copies it.
        again = run(smb_url(folder), dst)
        self.assertSuccess(again)
        self.assertEqual(again["FilesTransferred"], 1, again.describe())

    def test_a_file_written_while_read_is_caught_at_verification(self):
        folder = fresh_folder(self)
        os.makedirs(on_share(folder))
        size = 1_000_000
        for i in range(3):
            oracle.write_file(os.path.join(on_share(folder), f"f{i}.txt"), b"y" * 1000)
        hot = os.path.join(on_share(folder), "hot.bin")
        oracle.write_file(hot, os.urandom(size))
        dst = self.scratch("dst")
        # Written behind smbd, on the share's folder.
        with Writer(hot, size):
            r = run(smb_url(folder), dst, "--bytes-per-second", "4000000", "--threads", "2")
        # Copied as read; Samba need not show a change while the file is
        # open (it reports the write time it keeps for open files), so the
        # change may go unseen until verification, which catches it.
        self.assertEqual(r["FilesTransferred"], 4, r.describe())
        self.assertEqual(r["Status"], "ERROR", r.describe())
        self.assertEqual(r["Result.ErrorCode"], "VerificationFailed", r.describe())
        self.assertEqual(r["FilesFailed.Verify"], 1, r.describe())
        again = run(smb_url(folder), dst)
        self.assertSuccess(again)
        with open(hot, "rb") as a, open(os.path.join(dst, "hot.bin"), "rb") as b:
            self.assertTrue(a.read() == b.read(), "the re-run did not get the final version")

    def test_an_unreadable_file_is_skipped_and_named(self):
        perm = SMB["FERRY_TEST_SMB_PERM_DIR"]
        folder = "e2e-" + os.urandom(6).hex()
        here = os.path.join(perm, folder)
        self.addCleanup(shutil.rmtree, here, True)
        os.makedirs(here)
        os.chmod(here, 0o755)
        oracle.write_file(os.path.join(here, "ok.txt"), b"ok\n")
        os.chmod(os.path.join(here, "ok.txt"), 0o644)
        oracle.write_file(os.path.join(here, "secret.txt"), b"root only\n")
        os.chmod(os.path.join(here, "secret.txt"), 0o600)  # root's; the SMB user is not
        dst = self.scratch("dst")
        r = run(smb_url(folder, share=SMB["FERRY_TEST_SMB_PERM_SHARE"]), dst)
        self.assertEqual(r["Status"], "ERROR", r.describe())
        self.assertEqual(r["FilesTransferred"], 1, r.describe())
        self.assertEqual(r["FilesFailed.Transfer"], 1, r.describe())
        self.assertIn("secret.txt", r.stdout + r.stderr)
        self.assertEqual(os.listdir(dst), ["ok.txt"])


class ServerGoneMidTransfer(FerryTestCase):
    """An smbd of the test's own (the shared one serves other modules),
    killed while ferry writes to it."""

    def setUp(self):
        self.base = tempfile.mkdtemp(prefix="ferry-smb-fault-")
        os.chmod(self.base, 0o711)
        self.state = os.path.join(self.base, "state")
        self.addCleanup(shutil.rmtree, self.base, True)
        self.addCleanup(subprocess.run, ["bash", SAMBA_SH, "stop", self.state],
                        capture_output=True, timeout=60)
        p = subprocess.run(["bash", SAMBA_SH, "start", self.state], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.env = read_env(os.path.join(self.state, "env"))
        self.src = os.path.join(self.base, "src")
        os.makedirs(self.src)
        for i in range(4):
            oracle.write_file(os.path.join(self.src, f"part{i}.bin"), os.urandom(4 << 20))

    def sh(self, cmd):
        p = subprocess.run(["bash", SAMBA_SH, cmd, self.state], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def start_sync(self, outage_limit):
        url = (f"smb://{self.env['FERRY_TEST_SMB_USER']}@{self.env['FERRY_TEST_SMB_HOST']}/"
               f"{self.env['FERRY_TEST_SMB_SHARE']}/dst")
        env = {**os.environ, "FERRY_SMB_PASSWORD": self.env["FERRY_TEST_SMB_PASSWORD"]}
        # 16 MiB at 4 MB/s: about 4 s of writing.
        return subprocess.Popen(oracle.ferry_cmd() + ["sync", self.src, url, "--json",
                                                      "--bytes-per-second", "4000000",
                                                      "--outage-limit", str(outage_limit)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)

    def on_share(self):
        return os.path.join(self.env["FERRY_TEST_SMB_DIR"], "dst")

    def wait_writing(self):
        oracle.wait_for(lambda: os.path.isdir(self.on_share()) and any(
            os.path.getsize(os.path.join(d, f)) > 0
            for d, _, fs in os.walk(self.on_share()) for f in fs), 60, 0.05,
            "ferry to start writing")

    def test_a_restarted_server_is_waited_for_and_the_run_succeeds(self):
        p = self.start_sync(outage_limit=120)
        self.wait_writing()
        self.sh("down")
        # Away for longer than the quick retries of one operation last: the
        # workers wait for the server and go on when it is back.
        time.sleep(3)
        self.sh("up")
        out, err = p.communicate(timeout=oracle.scaled(180))
        self.assertEqual(p.returncode, 0, err[-3000:])
        r = json.loads(out)
        self.assertEqual(r["Status"], "SUCCESS", err[-3000:])
        self.assertGreater(r["Ferry"]["Retries"], 0, "nothing was retried: " + err[-3000:])
        self.assertEqual(r["FilesFailed"]["Transfer"], 0, err[-3000:])
        diffs = oracle.compare_trees(self.src, self.on_share(), mode=False, uid=False,
                                     gid=False, mtime=False)
        self.assertEqual(diffs, [])
        self.assertEqual(strays(self.on_share()), [])

    def test_a_server_that_stays_down_ends_error_and_leaves_nothing_partial(self):
        p = self.start_sync(outage_limit=5)
        self.wait_writing()
        self.sh("down")
        t0 = time.monotonic()
        out, err = p.communicate(timeout=oracle.scaled(180))
        took = time.monotonic() - t0
        self.assertNotEqual(p.returncode, 0)
        r = json.loads(out)
        self.assertEqual(r["Status"], "ERROR", err[-3000:])
        # One error for the run, naming the location, once it stayed down
        # for the limit; not each file failing on its own.
        self.assertEqual(r["Result"]["ErrorCode"], "DestinationLocationError", out)
        detail = r["Result"]["ErrorDetail"]
        self.assertIn("smb://", detail)
        self.assertIn("does not answer", detail)
        self.assertIn("has not for 5 s", detail)
        self.assertGreaterEqual(took, 4, err[-3000:])
        self.assertLess(took, FAIL_FAST_S, err[-3000:])
        # Nothing partial under a final name: each file there is whole.
        for d, _, fs in os.walk(self.on_share()):
            for f in fs:
                if f.startswith(".ferry-tmp-"):
                    continue
                rel = os.path.relpath(os.path.join(d, f), self.on_share())
                with open(os.path.join(d, f), "rb") as a, \
                        open(os.path.join(self.src, rel), "rb") as b:
                    self.assertTrue(a.read() == b.read(), f"{rel} is partial")
        # Back up, the next run completes and removes what the first left.
        self.sh("up")
        url = (f"smb://{self.env['FERRY_TEST_SMB_USER']}@{self.env['FERRY_TEST_SMB_HOST']}/"
               f"{self.env['FERRY_TEST_SMB_SHARE']}/dst")
        r = oracle.sync(self.src, url, env={
            **os.environ, "FERRY_SMB_PASSWORD": self.env["FERRY_TEST_SMB_PASSWORD"]})
        self.assertSuccess(r)
        self.assertEqual(strays(self.on_share()), [])


if __name__ == "__main__":
    unittest.main()
