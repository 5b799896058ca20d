"""End-to-end: ferry's additions around DataSync's options: --dry-run,
--max-delete, --manifest, and Uid/Gid NAME and BOTH.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_features
"""

import os
import shutil
import stat
import unittest

import oracle
from oracle import FerryTestCase, sync


class DryRun(FerryTestCase):
    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        self.dst = os.path.join(self.base, "dst")
        oracle.make_tree(self.src, seed=600, files=12, dirs=3, deep=False)

    def test_missing_destination_is_not_created(self):
        r = oracle.run_ferry("sync", self.src, self.dst, "--dry-run", json_out=False)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertFalse(os.path.lexists(self.dst))
        # The plan names every item (one line each), folders included.
        stats = oracle.tree_stats(self.src)
        plan = [line for line in r.stdout.splitlines() if line.startswith("copy ")]
        self.assertEqual(len(plan), stats["files"] + stats["folders"] - 1, r.stdout)
        self.assertIn("/with space", r.stdout)

    def test_writes_nothing_and_reports_the_plan(self):
        self.assertSuccess(sync(self.src, self.dst))
        s = os.fsencode(self.src)
        os.unlink(os.path.join(s, b"with space"))
        oracle.write_file(os.path.join(s, b"brand-new"), b"new\n")
        before = oracle.snapshot(self.dst)
        log = os.path.join(self.base, "dry.jsonl")
        r = sync(self.src, self.dst, "--dry-run", "--preserve-deleted-files", "REMOVE",
                 "--log-file", log)
        self.assertSuccess(r)
        self.assertEqual(oracle.snapshot(self.dst), before)
        self.assertEqual(r["FilesTransferred"], 0)
        self.assertEqual(r["FilesDeleted"], 0)
        self.assertEqual(r["BytesWritten"], 0)
        # What a real run would do: one new file, one deletion, the root's mtime.
        self.assertEqual(r["EstimatedFilesToTransfer"], 1)
        self.assertEqual(r["EstimatedFilesToDelete"], 1)
        self.assertIn("/brand-new", r.stderr + r.stdout)
        self.assertIn("/with space", r.stderr + r.stdout)
        # And the real run does exactly that.
        r = sync(self.src, self.dst, "--preserve-deleted-files", "REMOVE")
        self.assertSuccess(r)
        self.assertEqual((r["FilesTransferred"], r["FilesDeleted"]), (1, 1))
        self.assertTreesEqual(self.src, self.dst)


class MaxDelete(FerryTestCase):
    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        self.dst = os.path.join(self.base, "dst")
        oracle.make_flat_tree(self.src, 10, 100)
        self.assertSuccess(sync(self.src, self.dst))
        for i in range(4):
            os.unlink(os.path.join(self.src, f"f{i:04d}"))
        oracle.write_file(os.path.join(self.src, "added"), b"added")

    def test_over_the_limit_deletes_nothing(self):
        before = set(os.listdir(self.dst))
        for limit in ("3", "30%"):
            with self.subTest(limit=limit):
                r = sync(self.src, self.dst, "--preserve-deleted-files", "REMOVE",
                         "--max-delete", limit)
                self.assertEqual(r.rc, 1, r.describe())
                self.assertEqual(r["Status"], "ERROR")
                self.assertEqual(r["Result.ErrorCode"], "MaxDeleteExceeded")
                self.assertEqual(r["FilesDeleted"], 0)
                self.assertEqual(set(os.listdir(self.dst)), before | {"added"})
                self.assertIn("max-delete", r["Result.ErrorDetail"])

    def test_within_the_limit_deletes(self):
        for limit in ("4", "40%"):
            with self.subTest(limit=limit):
                dst = os.path.join(self.base, "d-" + limit.replace("%", "pct"))
                shutil.copytree(self.dst, dst, symlinks=True)
                r = sync(self.src, dst, "--preserve-deleted-files", "REMOVE",
                         "--max-delete", limit)
                self.assertSuccess(r)
                self.assertEqual(r["FilesDeleted"], 4)
                self.assertTreesEqual(self.src, dst)

    def test_invalid_limit_rejected(self):
        fresh = os.path.join(self.base, "never")
        for bad in ("abc", "-1", "10%%", "101%"):
            with self.subTest(value=bad):
                r = oracle.run_ferry("sync", self.src, fresh, "--max-delete", bad,
                                     json_out=False)
                self.assertEqual(r.rc, 2, r.describe())
                self.assertIn("--max-delete", r.stderr)
                self.assertFalse(os.path.lexists(fresh))


class Manifest(FerryTestCase):
    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        self.dst = os.path.join(self.base, "dst")
        oracle.make_tree(self.src, seed=700, files=15, dirs=3, deep=False)
        s = os.fsencode(self.src)
        os.makedirs(os.path.join(s, b"sub", b"deeper"))
        for name in (b"a,b", b'q"uote', b"sub/deeper/x y", "sub/ünï".encode()):
            oracle.write_file(os.path.join(s, name), name * 3, mode=0o640,
                              mtime_ns=1_300_000_000_000_000_003)

    def write_manifest(self, lines):
        path = os.path.join(self.base, "manifest.csv")
        with open(path, "wb") as f:
            f.write(b"\n".join(lines) + b"\n")
        return path

    def test_only_listed_files(self):
        m = self.write_manifest([b'"a,b"', b'"q""uote"', b"sub/deeper/x y",
                                 "sub/ünï".encode()])
        r = sync(self.src, self.dst, "--manifest", m)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 4)
        got = sorted(rel for rel, st in oracle.walk(self.dst).items()
                     if rel and not stat.S_ISDIR(st.st_mode))
        self.assertEqual(got, sorted([b"a,b", b'q"uote', b"sub/deeper/x y",
                                      "sub/ünï".encode()]))
        ws, wd = oracle.walk(self.src), oracle.walk(self.dst)
        for rel in got:
            self.assertEqual(oracle.compare_entry(self.src, self.dst, rel, ws[rel], wd[rel]), [])
        # Run again: nothing to do.
        r = sync(self.src, self.dst, "--manifest", m)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 0)

    def test_missing_file_fails_that_file_only(self):
        m = self.write_manifest([b'"a,b"', b"not/there"])
        log = os.path.join(self.base, "log.jsonl")
        r = sync(self.src, self.dst, "--manifest", m, "--log-file", log)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["Status"], "ERROR")
        self.assertEqual(r["FilesTransferred"], 1)
        self.assertEqual(r["FilesFailed.Prepare"], 1)
        self.assertTrue(os.path.isfile(os.path.join(self.dst, "a,b")))
        self.assertTrue(any("ManifestFileDoesNotExist" in x.get("message", "")
                            and x.get("path") == "/not/there"
                            for x in oracle.read_log(log)))

    def test_rejected_combinations(self):
        m = self.write_manifest([b'"a,b"'])
        for extra, msg in ((["--excludes", "*.tmp"], "filters"),
                           (["--includes", "/sub"], "filters"),
                           (["--preserve-deleted-files", "REMOVE"], "REMOVE")):
            with self.subTest(extra=extra):
                r = oracle.run_ferry("sync", self.src, self.dst, "--manifest", m, *extra,
                                     json_out=False)
                self.assertEqual(r.rc, 2, r.describe())
                self.assertIn(msg, r.stderr)
                self.assertFalse(os.path.lexists(self.dst))
        bad = self.write_manifest([b"../outside"])
        r = oracle.run_ferry("sync", self.src, self.dst, "--manifest", bad, json_out=False)
        self.assertEqual(r.rc, 2, r.describe())
        self.assertFalse(os.path.lexists(self.dst))
        r = oracle.run_ferry("sync", self.src, self.dst, "--manifest",
                             os.path.join(self.base, "missing.csv"), json_out=False)
        self.assertEqual(r.rc, 2, r.describe())
        self.assertFalse(os.path.lexists(self.dst))


@unittest.skipUnless(oracle.is_root(), "changing owners needs root")
class OwnerNames(FerryTestCase):
    def test_name_and_both(self):
        import pwd
        try:
            named = pwd.getpwnam("daemon")
        except KeyError:
            self.skipTest("no 'daemon' user")
        unnamed = 4242
        try:
            pwd.getpwuid(unnamed)
            self.skipTest("uid 4242 has a name here")
        except KeyError:
            pass
        base = self.scratch()
        src = os.path.join(base, "src")
        os.makedirs(src)
        oracle.write_file(os.path.join(src, "named"), b"n", owner=(named.pw_uid, named.pw_gid))
        oracle.write_file(os.path.join(src, "unnamed"), b"u", owner=(unnamed, unnamed))
        for mode in ("NAME", "BOTH"):
            with self.subTest(mode=mode):
                dst = os.path.join(base, "d-" + mode)
                r = sync(src, dst, "--uid", mode, "--gid", mode)
                self.assertSuccess(r)
                self.assertEqual(r["Options.Uid"], mode)
                st = os.lstat(os.path.join(dst, "named"))
                self.assertEqual((st.st_uid, st.st_gid), (named.pw_uid, named.pw_gid))
                if mode == "BOTH":  # no name: the number is kept
                    st = os.lstat(os.path.join(dst, "unnamed"))
                    self.assertEqual((st.st_uid, st.st_gid), (unnamed, unnamed))
                # Idempotent: a second run has nothing to do.
                r = sync(src, dst, "--uid", mode, "--gid", mode)
                self.assertSuccess(r)
                self.assertEqual(r["FilesTransferred"], 0)


if __name__ == "__main__":
    unittest.main()
