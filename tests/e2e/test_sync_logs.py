"""End-to-end: the execution log (--log-file, JSON lines) at each LogLevel,
and verification failures logged in DataSync's shape.

OFF writes nothing; BASIC writes errors and milestones but no per-item
records; TRANSFER writes one record per item transferred, verified, deleted
or skipped. A destination file corrupted behind ferry's back (same size, same
mtime) is caught by point-in-time verification and logged as DataSync does:
"[NOTICE] Verification failed <> /path", srcMeta/dstMeta lines
("type=R mode=0644 uid=.. gid=.. size=.. atime=s/ns mtime=s/ns extAttrsHash=..")
and srcHash/dstHash, on stderr and as JSON fields.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_logs
"""

import collections
import os
import re
import stat
import unittest

import oracle
from oracle import FerryTestCase, sync

PER_ITEM_EVENTS = {"Transferred", "Verified", "Deleted", "Skipped", "Planned"}
ODD = b"bad\nname \xff\\"  # the corrupted file's name: escaped everywhere


def meta_line(st):
    """DataSync's srcMeta/dstMeta text for an lstat result, computed here."""
    letter = {"file": "R", "dir": "D", "symlink": "L"}[oracle.kind(st)]
    a_s, a_ns = divmod(st.st_atime_ns, 1_000_000_000)
    m_s, m_ns = divmod(st.st_mtime_ns, 1_000_000_000)
    return (f"type={letter} mode={stat.S_IMODE(st.st_mode):04o} uid={st.st_uid} "
            f"gid={st.st_gid} size={st.st_size} atime={a_s}/{a_ns} mtime={m_s}/{m_ns} "
            f"extAttrsHash=")


class Levels(FerryTestCase):
    """The same changes (new, changed, deleted, kept by NEVER) at each level."""

    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")

    def prepare(self, level):
        """A destination one run behind the source; returns it."""
        src = self.src
        if not os.path.exists(src):
            oracle.make_flat_tree(os.path.join(src, "sub"), 4, 300, prefix="s")
            oracle.make_flat_tree(src, 6, 300)
        dst = os.path.join(self.base, "dst-" + level)
        self.assertSuccess(sync(src, dst))
        # The destination drifts: one extra file (REMOVE deletes it), one
        # file differs there (NEVER keeps it).
        oracle.write_file(os.path.join(dst, "extra"), b"only at the destination")
        oracle.write_file(os.path.join(dst, "f0005"), b"differs", mtime_ns=10**18)
        return dst

    def change_source(self):
        with oracle.keep_dir_mtime(self.src):
            oracle.write_file(os.path.join(self.src, "new"), b"new file")

    def run_level(self, level):
        dst = self.prepare(level)
        self.change_source()
        log = os.path.join(self.base, level + ".jsonl")
        r = sync(self.src, dst, "--log-level", level, "--log-file", log,
                 "--preserve-deleted-files", "REMOVE", "--overwrite-mode", "NEVER")
        self.assertSuccess(r)
        self.assertEqual(r["Options.LogLevel"], level)
        return r, log

    def test_off_writes_nothing(self):
        r, log = self.run_level("OFF")
        self.assertEqual(r["FilesTransferred"], 1)
        with open(log, "rb") as f:
            self.assertEqual(f.read(), b"")

    def test_basic_writes_milestones_and_no_items(self):
        r, log = self.run_level("BASIC")
        self.assertEqual((r["FilesTransferred"], r["FilesDeleted"], r["FilesSkipped"]), (1, 1, 1))
        recs = oracle.read_log(log)
        events = [x["event"] for x in recs]
        self.assertEqual(events[0], "ExecutionStarted")
        self.assertEqual(events[-1], "ExecutionFinished")
        self.assertEqual(recs[-1]["status"], "SUCCESS")
        self.assertEqual(set(events) & PER_ITEM_EVENTS, set(), events)
        self.assertFalse([x for x in recs if "path" in x], "per-item records at BASIC")
        self.assertEqual({x["executionArn"] for x in recs if "executionArn" in x},
                         {r["TaskExecutionArn"]})

    def test_transfer_writes_one_record_per_item(self):
        r, log = self.run_level("TRANSFER")
        recs = oracle.read_log(log)
        for rec in recs:
            for key in ("time", "level", "event", "message"):
                self.assertIn(key, rec)
            self.assertRegex(rec["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
        per = collections.defaultdict(list)
        for rec in recs:
            if rec["event"] in PER_ITEM_EVENTS:
                per[rec["event"]].append(rec["path"])
        self.assertEqual(per["Transferred"], ["/new"])
        self.assertEqual(per["Deleted"], ["/extra"])
        self.assertEqual(per["Skipped"], ["/f0005"])
        # Point-in-time verification checks every item but the one NEVER kept.
        items = {oracle.display_path(rel) for rel in oracle.walk(self.src) if rel}
        self.assertEqual(sorted(per["Verified"]), sorted(items - {"/f0005"}))
        self.assertEqual(r["FilesVerified"] + r["FoldersVerified"], len(per["Verified"]))

    def test_transfer_records_of_a_first_run(self):
        log = os.path.join(self.base, "first.jsonl")
        oracle.make_tree(self.src, seed=77, files=20, dirs=3, deep=False)
        dst = os.path.join(self.base, "first")
        r = sync(self.src, dst, "--log-level", "TRANSFER", "--log-file", log)
        self.assertSuccess(r)
        recs = oracle.read_log(log)
        walked = oracle.walk(self.src)
        items = sorted(oracle.display_path(rel) for rel in walked if rel)
        transferred = [x for x in recs if x["event"] == "Transferred"]
        self.assertEqual(sorted(x["path"] for x in transferred), items)
        verified = sorted(x["path"] for x in recs if x["event"] == "Verified")
        self.assertEqual(verified, items)
        for x in transferred:
            rel = next(k for k in walked if k and oracle.display_path(k) == x["path"])
            if stat.S_ISREG(walked[rel].st_mode):
                self.assertEqual(x["bytes"], walked[rel].st_size, x)


class VerificationFailure(FerryTestCase):
    @classmethod
    def setUpClass(cls):
        cls._cleanup = []
        holder = type("H", (), {"addCleanup": lambda self, fn, *a: cls._cleanup.append((fn, a))})()
        base = oracle.make_scratch(holder, prefix="ferry-e2e3-logs-")
        cls.src = os.path.join(base, "src")
        cls.dst = os.path.join(base, "dst")
        oracle.make_flat_tree(cls.src, 5, 20_000)
        victim_src = os.path.join(os.fsencode(cls.src), ODD)
        with oracle.keep_dir_mtime(cls.src):
            oracle.write_file(victim_src, os.urandom(30_000), mode=0o640,
                              mtime_ns=1_500_000_000_123_456_789)
        os.utime(victim_src, ns=(1_400_000_000_987_654_321, 1_500_000_000_123_456_789))
        cls.xattrs = oracle.user_xattrs_supported(base)
        if cls.xattrs:
            os.setxattr(victim_src, b"user.note", b"kept")
        cls.first = sync(cls.src, cls.dst, "--verify-mode", "NONE")
        # Corrupt the copy: one byte flipped, size and times kept.
        victim = os.path.join(os.fsencode(cls.dst), ODD)
        st = os.stat(victim)
        with open(victim, "r+b") as f:
            f.seek(12_345)
            b = f.read(1)
            f.seek(12_345)
            f.write(bytes([b[0] ^ 0x40]))
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
        cls.logs = {}
        cls.runs = {}
        for level in ("BASIC", "OFF"):
            cls.logs[level] = os.path.join(base, level + ".jsonl")
            cls.runs[level] = sync(cls.src, cls.dst, "--verify-mode",
                                   "POINT_IN_TIME_CONSISTENT", "--checksum-algorithm",
                                   "SHA-256", "--log-level", level, "--log-file",
                                   cls.logs[level])
        # The oracle's view, after the runs: lstat before reading anything.
        cls.st_src = os.lstat(victim_src)
        cls.st_dst = os.lstat(victim)
        cls.sha_src = oracle.file_digest(victim_src)
        cls.sha_dst = oracle.file_digest(victim)

    @classmethod
    def tearDownClass(cls):
        for fn, args in reversed(cls._cleanup):
            fn(*args)

    def test_setup(self):
        self.assertSuccess(self.first)
        self.assertEqual(self.first["FilesVerified"], 0)
        self.assertNotEqual(self.sha_src, self.sha_dst)
        self.assertEqual(self.st_src.st_size, self.st_dst.st_size)
        self.assertEqual(self.st_src.st_mtime_ns, self.st_dst.st_mtime_ns)

    def test_run_fails_with_verification_failed(self):
        r = self.runs["BASIC"]
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["Status"], "ERROR")
        self.assertEqual(r["Result.ErrorCode"], "VerificationFailed")
        self.assertEqual(r["Result.VerifyStatus"], "ERROR")
        self.assertEqual(r["FilesFailed.Verify"], 1)
        self.assertEqual(r["FilesTransferred"], 0)  # same size and mtime: not sent
        self.assertTrue(r["Result.ErrorDetail"].startswith(
            "Transfer and verification completed. Verification detected mismatches."))

    def test_json_record_in_datasync_shape(self):
        recs = [x for x in oracle.read_log(self.logs["BASIC"])
                if x.get("event") == "VerificationFailed"]
        self.assertEqual(len(recs), 1, recs)
        rec = recs[0]
        shown = oracle.display_path(ODD)
        self.assertEqual(shown, "/bad\\nname \\xFF\\\\")
        self.assertEqual(rec["path"], shown)
        self.assertEqual(rec["level"], "NOTICE")
        self.assertIn(f"Verification failed <> {shown}", rec["message"])
        self.assertEqual(rec["srcHash"], self.sha_src)
        self.assertEqual(rec["dstHash"], self.sha_dst)
        self.assertRegex(rec["srcMeta"], "^" + re.escape(meta_line(self.st_src)) + r"\d+$")
        self.assertRegex(rec["dstMeta"], "^" + re.escape(meta_line(self.st_dst)) + r"\d+$")
        # The attributes are equal on both sides: so are their hashes.
        self.assertEqual(rec["srcMeta"].rsplit("=", 1)[1], rec["dstMeta"].rsplit("=", 1)[1])
        if self.xattrs:
            self.assertNotEqual(rec["srcMeta"].rsplit("=", 1)[1], "0")

    def test_text_lines_on_stderr(self):
        err = self.runs["BASIC"].stderr
        shown = oracle.display_path(ODD)
        lines = err.splitlines()
        self.assertTrue(any(line.startswith(f"[NOTICE] Verification failed <> {shown}")
                            for line in lines), err)
        for label, value in (("srcMeta: ", meta_line(self.st_src)),
                             ("dstMeta: ", meta_line(self.st_dst))):
            self.assertTrue(any(re.search(re.escape(label + value) + r"\d+$", line)
                                for line in lines), f"no {label}line in:\n{err}")
        self.assertTrue(any(line.endswith(f"srcHash:{self.sha_src}") for line in lines), err)
        self.assertTrue(any(line.endswith(f"dstHash:{self.sha_dst}") for line in lines), err)
        # No raw newline from the name split a line: every line is a log line.
        for line in lines:
            if line.strip():
                self.assertTrue(line.startswith("["), f"stray line {line!r} in:\n{err}")

    def test_off_logs_nothing_even_on_failure(self):
        r = self.runs["OFF"]
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["Result.ErrorCode"], "VerificationFailed")
        with open(self.logs["OFF"], "rb") as f:
            self.assertEqual(f.read(), b"")


if __name__ == "__main__":
    unittest.main()
