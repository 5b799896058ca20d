"""End-to-end: `ferry sync` with nfs:// locations against a real NFS-Ganesha
(NFSv3, tests/support/nfs.sh), this process and ferry in its namespace.

A local tree with every kind NFS keeps (odd names, nested and empty folders,
an empty and a 9 MiB file, symlinks, hard links, a FIFO, a device, modes,
owners) goes to the export and back: what ferry wrote is judged with
os.lstat on the export's own folder (content, mode, uid, gid, mtime to the
microsecond, link targets, hard-link groups, devices; not the times of
symlinks, which this ganesha does not set: nfs.LINK_TIMES_KEPT) and with nfs-ls
(another client), atimes arrive (without verification, which reads the
destination back), the way back restores everything, the no-change re-run
transfers nothing, a change and a delete are carried, NFS to NFS works;
`?version=4` reads and is refused as a destination; a missing export and a
server that does not listen each end quickly with a message naming the
location. On the root-squashed export: an unreadable file is skipped and
named, and writing with owners preserved fails each file naming it and the
owner, while `--uid NONE --gid NONE` succeeds. A ganesha killed mid-transfer
and restarted is retried to SUCCESS; killed for good, the run ends with
"cannot reach" within about 30 s and leaves nothing partial under a final
name.

Under ctest the ferry_nfs fixture provides the server; by hand:

    cd tests/e2e && FERRY_BIN=$PWD/../../build-asan/ferry python3 -m unittest -v test_nfs_sync
"""

import json
import os
import stat
import subprocess
import time
import unittest

import nfs
import oracle
from oracle import FerryTestCase
from test_smb_sync import BIG, FAIL_FAST_S

# The uid of NFS's anonymous user on the squashed export.
NOBODY = 65534
# How soon a run must end once its server is gone for good ("about 30 s").
GONE_FOR_GOOD_S = 45


def setUpModule():
    nfs.setUpModule()


def scratch_dir(testcase, name):
    path = testcase.scratch(name)
    os.makedirs(path, exist_ok=True)
    return path


def make_full_tree(src):
    """Every kind of entry NFS keeps; returns the source's walk."""
    oracle.make_tree(src, 17, files=50, dirs=8)  # odd names, symlinks, a FIFO, modes, owners
    oracle.write_file(os.path.join(src, "empty"), b"")
    oracle.write_file(os.path.join(src, "big.bin"), os.urandom(BIG), mode=0o640,
                      owner=(4242, 4243))
    os.makedirs(os.path.join(src, "empty-dir"))
    os.chmod(os.path.join(src, "empty-dir"), 0o751)
    os.makedirs(os.path.join(src, "links"))
    oracle.write_file(os.path.join(src, "links", "one"), b"linked\n" * 100)
    os.link(os.path.join(src, "links", "one"), os.path.join(src, "links", "two"))
    os.link(os.path.join(src, "links", "one"), os.path.join(src, "three"))
    os.symlink("links/one", os.path.join(src, "to-one"))
    os.symlink("/nowhere/at/all", os.path.join(src, "dangling"))
    os.mknod(os.path.join(src, "null-like"), stat.S_IFCHR | 0o620, os.makedev(1, 3))
    # Times with microseconds (and nanoseconds NFS need not keep); atimes
    # unlike mtimes, folders last.
    for i, rel in enumerate(["empty", "big.bin", "links/one", "to-one", "dangling",
                             "null-like", "empty-dir", "links"]):
        mtime = (1_500_000_000 + i * 1000) * 10**9 + 123_456_789
        oracle.set_times(os.path.join(src, rel), mtime, mtime - 86_400 * 10**9 + 1000 * i)
    return oracle.walk(src)


class NfsSync(FerryTestCase):
    def run_sync(self, src, dst, *opts, timeout=180):
        return oracle.sync(src, dst, "--preserve-devices", "PRESERVE", *opts, timeout=timeout)

    def test_round_trip_keeps_everything_and_the_re_run_does_nothing(self):
        src = scratch_dir(self, "src")
        make_full_tree(src)
        folder = nfs.fresh_folder()
        up = self.run_sync(src, nfs.url(folder))
        self.assertSuccess(up)
        self.assertNoFailures(up)
        there = nfs.on_export(folder)
        nfs.assert_same(self, src, there, links=True, link_times=nfs.LINK_TIMES_KEPT)
        self.assertEqual(nfs.strays(there), [])
        st = os.lstat(os.path.join(there, "null-like"))
        self.assertTrue(stat.S_ISCHR(st.st_mode))
        self.assertEqual(st.st_rdev, os.makedev(1, 3))

        # nfs-ls (libnfs's own client) sees what ferry wrote.
        rc, out, err = nfs.nfs_ls(nfs.url(folder))
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^-rw-r-----\s+\d+\s+4242\s+4243\s+%d\s+big\.bin$" % BIG)
        self.assertRegex(out, r"(?m)^l.*\sto-one$")

        again = self.run_sync(src, nfs.url(folder))
        self.assertSuccess(again)
        self.assertEqual(again["FilesTransferred"], 0, again.describe())

        # Back: everything as at the source, links as on the export.
        down = self.scratch("down")
        back = self.run_sync(nfs.url(folder), down)
        self.assertSuccess(back)
        self.assertNoFailures(back)
        nfs.assert_same(self, src, down, links=True, link_times=nfs.LINK_TIMES_KEPT)
        nfs.assert_same(self, there, down, links=True)  # links' times too

    def test_access_times_arrive_and_come_back(self):
        # Up without verification: reading the destination back over NFS
        # would move its atimes on the server (by ganesha's reads).
        src = scratch_dir(self, "src")
        make_full_tree(src)
        before = oracle.walk(src)
        folder = nfs.fresh_folder()
        r = self.run_sync(src, nfs.url(folder), "--verify-mode", "NONE")
        self.assertSuccess(r)
        self.assertEqual(self.wrong_atimes(before, nfs.on_export(folder)), [])
        # Back with verification (the default): the atimes the export had
        # before the run, not the time of ferry's own reads.
        down = self.scratch("down")
        r = self.run_sync(nfs.url(folder), down)
        self.assertSuccess(r)
        self.assertEqual(self.wrong_atimes(before, down), [])

    def wrong_atimes(self, before, there):
        """The entries (not folders; not links unless the export keeps
        their times) whose atime at `there` is not the one in `before`."""
        now = oracle.walk(there)
        return [f"{oracle.show(rel)}: atime {s.st_atime_ns} -> {now[rel].st_atime_ns}"
                for rel, s in before.items()
                if rel and not stat.S_ISDIR(s.st_mode)
                and (nfs.LINK_TIMES_KEPT or not stat.S_ISLNK(s.st_mode))
                and s.st_atime_ns // 1000 != now[rel].st_atime_ns // 1000]

    def test_a_change_and_a_delete_are_carried(self):
        src = scratch_dir(self, "src")
        oracle.make_tree(src, 5, files=20, dirs=4, odd_names=False)
        oracle.write_file(os.path.join(src, "big.bin"), os.urandom(BIG))
        oracle.write_file(os.path.join(src, "gone.txt"), b"gone soon\n")
        folder = nfs.fresh_folder()
        self.assertSuccess(self.run_sync(src, nfs.url(folder)))
        changed = os.path.join(src, "big.bin")
        with open(changed, "r+b") as f:
            f.seek(5 << 20)
            f.write(b"CHANGED")
        oracle.bump_mtime(changed)
        with oracle.keep_dir_mtime(src):
            os.unlink(os.path.join(src, "gone.txt"))
        r = self.run_sync(src, nfs.url(folder), "--preserve-deleted-files", "REMOVE")
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 1, r.describe())
        self.assertEqual(r["FilesDeleted"], 1, r.describe())
        nfs.assert_same(self, src, nfs.on_export(folder), link_times=nfs.LINK_TIMES_KEPT)

    def test_nfs_to_nfs_into_a_new_nested_folder(self):
        src = scratch_dir(self, "src")
        oracle.make_tree(src, 9, files=25, dirs=4)
        a = nfs.fresh_folder()
        self.assertSuccess(self.run_sync(src, nfs.url(a)))
        b = nfs.fresh_folder() + "/one/two"
        r = self.run_sync(nfs.url(a), nfs.url(b))
        self.assertSuccess(r)
        self.assertNoFailures(r)
        nfs.assert_same(self, src, nfs.on_export(b), link_times=nfs.LINK_TIMES_KEPT)

    def test_version_4_reads_and_is_refused_as_a_destination(self):
        src = scratch_dir(self, "src")
        oracle.make_tree(src, 3, files=15, dirs=3, odd_names=False, symlinks=False)
        oracle.write_file(os.path.join(src, "big.bin"), os.urandom(BIG))
        folder = nfs.fresh_folder()
        self.assertSuccess(self.run_sync(src, nfs.url(folder)))
        down = self.scratch("down")
        r = self.run_sync(nfs.url(folder, query="?version=4"), down)
        self.assertSuccess(r)
        # Owners too: the server sends them as numbers.
        nfs.assert_same(self, src, down, link_times=nfs.LINK_TIMES_KEPT)

        # A symbolic link is not read over NFSv4 (libnfs 4.0.0 hands its
        # target over unterminated): it fails alone, named, saying why.
        os.symlink("big.bin", os.path.join(src, "a-link"))
        root = os.stat(src)
        self.assertSuccess(self.run_sync(src, nfs.url(folder)))
        down2 = self.scratch("down2")
        r = self.run_sync(nfs.url(folder, query="?version=4"), down2)
        self.assertNotEqual(r.rc, 0, r.describe())
        out = r.stdout + r.stderr
        self.assertIn("/a-link", out, r.describe())
        self.assertIn("NFSv4", out, r.describe())
        self.assertIn("version=3", out, r.describe())
        self.assertFalse(os.path.lexists(os.path.join(down2, "a-link")))
        os.unlink(os.path.join(src, "a-link"))
        os.utime(src, ns=(root.st_atime_ns, root.st_mtime_ns))
        nfs.assert_same(self, src, down2, owners=False, link_times=nfs.LINK_TIMES_KEPT)

        other = nfs.fresh_folder()
        t0 = time.monotonic()
        r = self.run_sync(src, nfs.url(other, query="?version=4"), timeout=FAIL_FAST_S + 30)
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertLess(time.monotonic() - t0, FAIL_FAST_S, r.describe())
        self.assertIn("NFSv4", r.stdout + r.stderr, r.describe())
        self.assertIn("version=3", r.stdout + r.stderr, r.describe())
        self.assertFalse(os.path.lexists(nfs.on_export(other)), "created anyway")

    def assertFailsFast(self, location, want, as_source=False):
        src = scratch_dir(self, "src")
        oracle.write_file(os.path.join(src, "a.txt"), b"a\n")
        args = (location, self.scratch("dst")) if as_source else (src, location)
        t0 = time.monotonic()
        r = self.run_sync(*args, timeout=FAIL_FAST_S + 30)
        took = time.monotonic() - t0
        self.assertNotEqual(r.rc, 0, r.describe())
        # The message, on stderr or in the summary (--json: ErrorDetail).
        out = r.stdout + r.stderr
        self.assertIn(location.rsplit("/", 1)[0], out, r.describe())
        # What is wrong, in words.
        self.assertRegex(out, want, r.describe())
        self.assertLess(took, FAIL_FAST_S, r.describe())

    def test_a_missing_export(self):
        for as_source in (False, True):
            with self.subTest(as_source=as_source):
                # A name without "export" in it: the word must be the message's.
                self.assertFailsFast(nfs.url("x", export="/not-shared"), r"\bexport",
                                     as_source=as_source)

    def test_nothing_listening(self):
        for as_source in (False, True):
            with self.subTest(as_source=as_source):
                self.assertFailsFast(nfs.url("x", host="127.0.0.1:1"), r"cannot reach",
                                     as_source=as_source)


class SquashedRoot(FerryTestCase):
    """/squash maps root to nobody (65534): root's 0600 secret.txt there is
    unreadable over NFS, and nobody cannot give files to root."""

    def squash_url(self, folder=""):
        return nfs.url(folder, export=nfs.NFS["FERRY_TEST_NFS_SQUASH_EXPORT"])

    def test_an_unreadable_file_is_skipped_and_named(self):
        dst = self.scratch("dst")
        r = oracle.sync(self.squash_url(), dst, "--includes", "/open.txt|/secret.txt")
        self.assertEqual(r["Status"], "ERROR", r.describe())
        self.assertNotEqual(r.rc, 0)
        self.assertEqual(r["FilesTransferred"], 1, r.describe())
        self.assertEqual(r["FilesFailed.Transfer"], 1, r.describe())
        out = r.stdout + r.stderr
        self.assertIn("secret.txt", out)
        self.assertRegex(out.lower(), r"permission denied|access denied")
        self.assertEqual(sorted(os.listdir(dst)), ["open.txt"])
        with open(os.path.join(dst, "open.txt"), "rb") as f:
            self.assertEqual(f.read(), b"open to all\n")

    def make_source(self):
        src = scratch_dir(self, "src")
        for i in range(3):
            oracle.write_file(os.path.join(src, f"mine{i}.txt"), b"root's %d\n" % i,
                              mode=0o644)
        return src

    def test_writing_root_owned_files_fails_each_naming_it_and_the_owner(self):
        src = self.make_source()
        folder = nfs.fresh_folder()
        r = oracle.sync(src, self.squash_url(folder))
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertEqual(r["Status"], "ERROR", r.describe())
        self.assertEqual(r["FilesFailed.Transfer"], 3, r.describe())
        out = r.stdout + r.stderr
        for i in range(3):
            self.assertIn(f"mine{i}.txt", out)
        self.assertIn("owner", out.lower())
        self.assertEqual(nfs.strays(nfs.on_export(folder, squash=True)), [])

    def test_writing_without_owners_succeeds(self):
        src = self.make_source()
        folder = nfs.fresh_folder()
        r = oracle.sync(src, self.squash_url(folder), "--uid", "NONE", "--gid", "NONE")
        self.assertSuccess(r)
        there = nfs.on_export(folder, squash=True)
        nfs.assert_same(self, src, there, owners=False)
        for name in os.listdir(there):
            st = os.lstat(os.path.join(there, name))
            self.assertEqual((st.st_uid, st.st_gid), (NOBODY, NOBODY), name)


class ServerGoneMidTransfer(FerryTestCase):
    """A ganesha no other module uses (nfs.private_server), killed while
    ferry writes to it."""

    @classmethod
    def setUpClass(cls):
        cls.server = nfs.private_server(cls)

    def setUp(self):
        if not self.server.ganesha_running():
            self.server.up()
        self.src = scratch_dir(self, "src")
        for i in range(4):
            oracle.write_file(os.path.join(self.src, f"part{i}.bin"), os.urandom(4 << 20))
        self.folder = nfs.fresh_folder()
        self.addCleanup(self.ensure_up)

    def ensure_up(self):
        if not self.server.ganesha_running():
            self.server.up()

    def start_sync(self, outage_limit):
        # 16 MiB at 4 MB/s: about 4 s of writing.
        return subprocess.Popen(self.server.exec_prefix() + oracle.ferry_cmd() + [
            "sync", self.src, self.server.url(self.folder), "--json", "--bytes-per-second",
            "4000000", "--outage-limit", str(outage_limit)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, errors="replace")

    def there(self):
        return self.server.on_export(self.folder)

    def wait_writing(self, p):
        def writing():
            if p.poll() is not None:
                raise AssertionError(f"ferry ended rc={p.returncode} before writing:\n"
                                     + p.stderr.read()[-3000:])
            return os.path.isdir(self.there()) and any(
                os.path.getsize(os.path.join(d, f)) > 0
                for d, _, fs in os.walk(self.there()) for f in fs)
        oracle.wait_for(writing, 60, 0.05, "ferry to start writing")

    def finish(self, p):
        try:
            out, err = p.communicate(timeout=oracle.scaled(180))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError("ferry did not end:\n" + err[-3000:])
        if oracle.sanitizer_reports(err):
            raise AssertionError("ferry reported a sanitizer error:\n"
                                 + oracle.describe_output("stderr", err))
        return out, err

    def test_a_restarted_server_is_waited_for_and_the_run_succeeds(self):
        p = self.start_sync(outage_limit=120)
        self.wait_writing(p)
        self.server.down()
        time.sleep(3)  # the server stays away for a while (what is under test)
        self.server.up()
        out, err = self.finish(p)
        self.assertEqual(p.returncode, 0, err[-3000:])
        r = json.loads(out)
        self.assertEqual(r["Status"], "SUCCESS", err[-3000:])
        self.assertGreater(r["Ferry"]["Retries"], 0, "nothing was retried: " + err[-3000:])
        self.assertEqual(r["FilesFailed"]["Transfer"], 0, err[-3000:])
        nfs.assert_same(self, self.src, self.there())
        self.assertEqual(nfs.strays(self.there()), [])

    def test_a_server_that_stays_down_ends_error_and_leaves_nothing_partial(self):
        p = self.start_sync(outage_limit=5)
        self.wait_writing(p)
        self.server.down()
        t0 = time.monotonic()
        out, err = self.finish(p)
        took = time.monotonic() - t0
        self.assertNotEqual(p.returncode, 0, err[-3000:])
        r = json.loads(out)
        # One error for the run, naming the location.
        self.assertEqual(r["Result"]["ErrorCode"], "DestinationLocationError", out)
        detail = r["Result"]["ErrorDetail"]
        self.assertIn("nfs://", detail)
        self.assertIn("does not answer", detail)
        self.assertRegex(detail, r"cannot reach|unreachable")
        # ferry's retries wait in real time, sanitizer or not.
        self.assertLess(took, GONE_FOR_GOOD_S, f"ended {took:.0f} s after the server went")
        # Nothing partial under a final name: each file there is whole.
        for d, _, fs in os.walk(self.there()):
            for f in fs:
                if f.startswith(".ferry-tmp-"):
                    continue
                rel = os.path.relpath(os.path.join(d, f), self.there())
                self.assertEqual(oracle.file_digest(os.path.join(d, f)),
                                 oracle.file_digest(os.path.join(self.src, rel)),
                                 f"{rel} is partial")
        # Back up, the next run completes and removes what the first left.
        self.server.up()
        r = oracle.sync(self.src, self.server.url(self.folder), prefix=self.server.exec_prefix())
        self.assertSuccess(r)
        nfs.assert_same(self, self.src, self.there())
        self.assertEqual(nfs.strays(self.there()), [])


if __name__ == "__main__":
    unittest.main()
