"""End-to-end: task reports (--task-report-dir) as DataSync writes them.

SUMMARY_ONLY writes only the summary; STANDARD lists every transferred and
verified item with DataSync's field names and values the oracle checks (SHA-256
checksums against hashlib); ERRORS_ONLY lists only failures; deletions and
skipped files have their lists; big lists are split into parts of at most
5,000,000 bytes that together name every file once.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_task_reports
"""

import datetime
import hashlib
import os
import re
import stat
import unittest

import oracle
from oracle import FerryTestCase, sync

ISO_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
NOBODY = 65534
TYPES = {"file": "Regular", "dir": "Directory", "symlink": "SymbolicLink", "fifo": "Fifo",
         "socket": "Socket", "chardev": "CharacterDevice", "blockdev": "BlockDevice"}
METADATA_KEYS = {"Type", "ContentSize", "Mtime", "Atime", "Uid", "Gid", "Mode"}


def iso(ns):
    sec, frac = divmod(ns, 1_000_000_000)
    t = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + \
        datetime.timedelta(seconds=sec)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def report_args(folder, output="STANDARD", level="SUCCESSES_AND_ERRORS"):
    return ["--task-report-dir", folder, "--report-output-type", output,
            "--report-level", level]


class ReportCase(FerryTestCase):
    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        self.dst = os.path.join(self.base, "dst")

    def report_dir(self, name):
        return os.path.join(self.base, "reports-" + name)

    def assertMetadataMatches(self, meta, st, what, *, atime=False):
        """A report's SrcMetadata/DstMetadata against an lstat of the item."""
        self.assertEqual(set(meta) - {"LinkTarget"}, METADATA_KEYS, what)
        self.assertEqual(meta["Type"], TYPES[oracle.kind(st)], what)
        if stat.S_ISREG(st.st_mode):
            self.assertEqual(meta["ContentSize"], st.st_size, what)
        self.assertEqual(meta["Mtime"], iso(st.st_mtime_ns), what)
        self.assertRegex(meta["Atime"], ISO_NS, what)
        if atime:
            self.assertEqual(meta["Atime"], iso(st.st_atime_ns), what)
        self.assertEqual(meta["Uid"], st.st_uid, what)
        self.assertEqual(meta["Gid"], st.st_gid, what)
        if not stat.S_ISLNK(st.st_mode):
            self.assertEqual(meta["Mode"], "%04o" % stat.S_IMODE(st.st_mode), what)


class SummaryOnly(ReportCase):
    def test_only_the_summary_is_written(self):
        oracle.make_tree(self.src, seed=31, files=20, dirs=3, deep=False)
        rd = self.report_dir("summary")
        r = sync(self.src, self.dst, *report_args(rd, "SUMMARY_ONLY"))
        self.assertSuccess(r)
        rep = oracle.TaskReportFiles(rd)
        self.assertEqual(rep.names, [f"{rep.id}.summary-v1.json"])
        self.assertEqual(r["TaskExecutionArn"].rsplit("/", 1)[1], rep.id)
        s = rep.summary
        self.assertEqual(s["TaskExecutionArn"], r["TaskExecutionArn"])
        self.assertEqual(s["Status"], "SUCCESS")
        for key in ("FilesTransferred", "FoldersTransferred", "BytesWritten", "FilesVerified",
                    "FilesListed", "FilesFailed", "Options"):
            self.assertEqual(s[key], r[key], key)
        self.assertEqual(s["ReportSettings"], {"OutputType": "SUMMARY_ONLY",
                                               "ReportLevel": "SUCCESSES_AND_ERRORS"})
        self.assertEqual(r["ReportResult.Status"], "SUCCESS")


class Standard(ReportCase):
    def build(self):
        oracle.make_tree(self.src, seed=32, files=25, dirs=4, deep=False, fifos=True)
        return oracle.walk(self.src)

    def test_successes_list_every_item_with_datasync_fields(self):
        before = self.build()
        rd = self.report_dir("std")
        r = sync(self.src, self.dst, "--checksum-algorithm", "SHA-256", *report_args(rd))
        self.assertSuccess(r)
        rep = oracle.TaskReportFiles(rd)
        self.assertEqual(rep.arns, {r["TaskExecutionArn"]})
        self.assertEqual(rep.lists["skipped"], [])
        self.assertEqual(rep.lists["deleted"], [])
        transferred = rep.by_path("transferred")
        items = {oracle.display_path(rel): rel for rel in before if rel}
        self.assertEqual(set(transferred), set(items))
        for shown, rel in items.items():
            rec = transferred[shown]
            with self.subTest(path=shown):
                self.assertEqual(rec["TransferStatus"], "SUCCESS")
                self.assertEqual(rec["Overwrite"], "False")
                self.assertEqual(rec["TransferType"], "CONTENT_AND_METADATA")
                self.assertRegex(rec["TransferTimestamp"], ISO_NS)
                self.assertNotIn("FailureReason", rec)
                self.assertNotIn("FailureCode", rec)
                # The source as scanned, access time before the run included.
                self.assertMetadataMatches(rec["SrcMetadata"], before[rel], shown,
                                           atime=not stat.S_ISDIR(before[rel].st_mode))
                if stat.S_ISLNK(before[rel].st_mode):
                    target = oracle.readlink_rel(self.src, rel)
                    self.assertEqual("/" + rec["SrcMetadata"]["LinkTarget"],
                                     oracle.display_path(target))
        verified = rep.by_path("verified")
        files = {s for s, rel in items.items() if not stat.S_ISDIR(before[rel].st_mode)}
        self.assertEqual(files - set(verified), set())
        after = oracle.walk(self.dst)
        sums = 0
        for shown in files:
            rel = items[shown]
            rec = verified[shown]
            with self.subTest(path=shown):
                self.assertEqual(rec["VerifyStatus"], "SUCCESS")
                self.assertRegex(rec["VerifyTimestamp"], ISO_NS)
                self.assertMetadataMatches(rec["SrcMetadata"], before[rel], shown)
                self.assertMetadataMatches(rec["DstMetadata"], after[rel], shown)
                if stat.S_ISREG(before[rel].st_mode):
                    self.assertEqual(rec["ChecksumAlgorithm"], "SHA-256")
                    want = oracle.digest_rel(self.src, rel, "sha256")
                    self.assertEqual(rec["SrcChecksum"], want)
                    self.assertEqual(rec["DstChecksum"], want)
                    sums += 1
        self.assertGreater(sums, 20)
        self.assertEqual(rep.summary["Status"], "SUCCESS")
        self.assertEqual(rep.summary["FilesTransferred"], r["FilesTransferred"])

    def test_default_checksums_equal_between_sides(self):
        oracle.make_flat_tree(self.src, 6, 3000)
        rd = self.report_dir("xxh")
        self.assertSuccess(sync(self.src, self.dst, *report_args(rd)))
        verified = oracle.TaskReportFiles(rd).by_path("verified")
        for i in range(6):
            rec = verified[f"/f{i:04d}"]
            self.assertEqual(rec["ChecksumAlgorithm"], "XXH3-128")
            self.assertRegex(rec["SrcChecksum"], r"^[0-9a-f]{32}$")
            self.assertEqual(rec["SrcChecksum"], rec["DstChecksum"])
        self.assertEqual(len({verified[f"/f{i:04d}"]["SrcChecksum"] for i in range(6)}), 6)

    def test_overwrite_and_metadata_only(self):
        oracle.make_flat_tree(self.src, 4, 2000)
        self.assertSuccess(sync(self.src, self.dst))
        oracle.write_file(os.path.join(self.src, "f0001"), b"changed",
                          mtime_ns=1_600_000_000_000_000_001)
        os.chmod(os.path.join(self.src, "f0002"), 0o600)
        with oracle.keep_dir_mtime(self.src):
            oracle.write_file(os.path.join(self.src, "new"), b"new")
        rd = self.report_dir("again")
        r = sync(self.src, self.dst, *report_args(rd))
        self.assertSuccess(r)
        transferred = oracle.TaskReportFiles(rd).by_path("transferred")
        self.assertEqual(set(transferred), {"/f0001", "/f0002", "/new"})
        self.assertEqual((transferred["/f0001"]["Overwrite"],
                          transferred["/f0001"]["TransferType"]), ("True", "CONTENT_AND_METADATA"))
        self.assertEqual((transferred["/f0002"]["Overwrite"],
                          transferred["/f0002"]["TransferType"]), ("True", "METADATA_ONLY"))
        self.assertEqual(transferred["/f0002"]["SrcMetadata"]["Mode"], "0600")
        self.assertEqual(transferred["/new"]["Overwrite"], "False")

    def test_deleted_files_listed_with_remove(self):
        oracle.make_flat_tree(os.path.join(self.src, "gone-dir"), 3, 100, prefix="g")
        oracle.make_flat_tree(self.src, 5, 100)
        self.assertSuccess(sync(self.src, self.dst))
        removed = {"/f0001", "/f0003", "/gone-dir", "/gone-dir/g0000", "/gone-dir/g0001",
                   "/gone-dir/g0002"}
        dst_before = oracle.walk(self.dst)
        with oracle.keep_dir_mtime(self.src):
            os.unlink(os.path.join(self.src, "f0001"))
            os.unlink(os.path.join(self.src, "f0003"))
            for i in range(3):
                os.unlink(os.path.join(self.src, "gone-dir", f"g{i:04d}"))
            os.rmdir(os.path.join(self.src, "gone-dir"))
        rd = self.report_dir("del")
        r = sync(self.src, self.dst, "--preserve-deleted-files", "REMOVE", *report_args(rd))
        self.assertSuccess(r)
        self.assertEqual((r["FilesDeleted"], r["FoldersDeleted"]), (5, 1))
        rep = oracle.TaskReportFiles(rd)
        deleted = rep.by_path("deleted")
        self.assertEqual(set(deleted), removed)
        for shown, rec in deleted.items():
            with self.subTest(path=shown):
                self.assertEqual(rec["DeleteStatus"], "SUCCESS")
                self.assertRegex(rec["DeleteTimestamp"], ISO_NS)
                self.assertMetadataMatches(rec["DstMetadata"],
                                           dst_before[shown[1:].encode()], shown)
        self.assertEqual(rep.lists["transferred"], [])
        self.assertTreesEqual(self.src, self.dst)
        # PRESERVE (the default) deletes nothing and lists nothing.
        with oracle.keep_dir_mtime(self.src):
            os.unlink(os.path.join(self.src, "f0000"))
        rd = self.report_dir("keep")
        self.assertSuccess(sync(self.src, self.dst, *report_args(rd)))
        self.assertEqual(oracle.TaskReportFiles(rd).lists["deleted"], [])

    def test_skipped_files_with_overwrite_never(self):
        oracle.make_flat_tree(self.src, 5, 100)
        self.assertSuccess(sync(self.src, self.dst))
        for name in ("f0000", "f0004"):
            oracle.write_file(os.path.join(self.dst, name), b"kept at the destination",
                              mtime_ns=1_100_000_000_000_000_000)
        with oracle.keep_dir_mtime(self.src):
            oracle.write_file(os.path.join(self.src, "added"), b"added")
        rd = self.report_dir("never")
        r = sync(self.src, self.dst, "--overwrite-mode", "NEVER", *report_args(rd))
        self.assertSuccess(r)
        self.assertEqual(r["FilesSkipped"], 2)
        rep = oracle.TaskReportFiles(rd)
        skipped = rep.by_path("skipped")
        self.assertEqual(set(skipped), {"/f0000", "/f0004"})
        src_walk = oracle.walk(self.src)
        for shown, rec in skipped.items():
            self.assertIsInstance(rec.get("SkippedReason"), str)
            self.assertNotEqual(rec["SkippedReason"], "")
            self.assertRegex(rec["SkippedTimestamp"], ISO_NS)
            self.assertMetadataMatches(rec["SrcMetadata"], src_walk[shown[1:].encode()], shown)
        self.assertEqual(set(rep.by_path("transferred")), {"/added"})
        with open(os.path.join(self.dst, "f0000"), "rb") as f:
            self.assertEqual(f.read(), b"kept at the destination")

    def test_verification_failure_listed(self):
        oracle.make_flat_tree(self.src, 4, 5000)
        self.assertSuccess(sync(self.src, self.dst))
        victim = os.path.join(self.dst, "f0001")
        st = os.stat(victim)
        with open(victim, "r+b") as f:
            f.seek(100)
            f.write(b"\0corrupt\0")
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
        rd = self.report_dir("verify")
        r = sync(self.src, self.dst, "--checksum-algorithm", "SHA-256",
                 *report_args(rd, level="ERRORS_ONLY"))
        self.assertEqual(r.rc, 1, r.describe())
        rep = oracle.TaskReportFiles(rd)
        verified = rep.by_path("verified")
        self.assertEqual(set(verified), {"/f0001"})
        rec = verified["/f0001"]
        self.assertEqual(rec["VerifyStatus"], "FAILED")
        self.assertEqual(rec["SrcChecksum"], oracle.file_digest(os.path.join(self.src, "f0001")))
        self.assertEqual(rec["DstChecksum"], oracle.file_digest(victim))
        self.assertNotEqual(rec["SrcChecksum"], rec["DstChecksum"])
        self.assertIsInstance(rec.get("FailureCode"), str)
        self.assertNotEqual(rec.get("FailureReason", ""), "")
        self.assertEqual(rep.lists["transferred"], [])
        self.assertEqual(rep.summary["Status"], "ERROR")


class ErrorsOnly(ReportCase):
    """An unreadable file needs a user the permission bits apply to."""

    def setUp(self):
        super().setUp()
        self.nobody = oracle.as_nobody()  # fails, never skips, when it cannot
        os.chmod(self.base, 0o755)
        self.out = os.path.join(self.base, "out")
        os.mkdir(self.out)
        if oracle.is_root():
            os.chown(self.out, NOBODY, NOBODY)
        self.dst = os.path.join(self.out, "dst")
        oracle.make_flat_tree(self.src, 8, 700)
        oracle.write_file(os.path.join(self.src, "locked"), b"secret" * 100)
        if oracle.is_root():
            for rel in oracle.walk(self.src):
                os.lchown(os.path.join(os.fsencode(self.src), rel) if rel else self.src,
                          NOBODY, NOBODY)
        with oracle.keep_dir_mtime(self.src):
            os.chmod(os.path.join(self.src, "locked"), 0)

    def run_report(self, level, dst):
        rd = os.path.join(self.out, "reports-" + level)
        r = sync(self.src, dst, *report_args(rd, level=level), **self.nobody)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["FilesFailed.Transfer"], 1)
        return r, oracle.TaskReportFiles(rd)

    def test_errors_only_lists_only_the_failure(self):
        r, rep = self.run_report("ERRORS_ONLY", self.dst)
        self.assertEqual(r["FilesTransferred"], 8)
        transferred = rep.by_path("transferred")
        self.assertEqual(list(transferred), ["/locked"])
        rec = transferred["/locked"]
        self.assertEqual(rec["TransferStatus"], "FAILED")
        self.assertIn("Permission denied", rec["FailureReason"])
        self.assertIsInstance(rec["FailureCode"], str)
        self.assertNotEqual(rec["FailureCode"], "")
        self.assertEqual(rec["SrcMetadata"]["Mode"], "0000")
        # Nothing failed verification (the failed file is not verified again).
        self.assertEqual(rep.lists["verified"], [])
        self.assertEqual(rep.lists["skipped"], [])
        self.assertEqual(rep.summary["Status"], "ERROR")
        self.assertEqual(rep.summary["FilesFailed"]["Transfer"], 1)

    def test_successes_and_errors_lists_both(self):
        r, rep = self.run_report("SUCCESSES_AND_ERRORS", self.dst)
        transferred = rep.by_path("transferred")
        self.assertEqual(set(transferred) - {"/"}, {"/locked"} | {f"/f{i:04d}" for i in range(8)})
        status = {p: rec["TransferStatus"] for p, rec in transferred.items()}
        self.assertEqual(status.pop("/locked"), "FAILED")
        self.assertEqual(set(status.values()), {"SUCCESS"})
        self.assertNotIn("/locked", rep.by_path("verified"))


class SplitLists(ReportCase):
    FILES = 40_000

    def test_big_lists_split_in_parts_of_at_most_5_mb(self):
        os.makedirs(self.src)
        for d in range(40):
            folder = os.path.join(self.src, f"d{d:02d}")
            os.mkdir(folder)
            for i in range(self.FILES // 40):
                with open(os.path.join(folder, f"file-{i:05d}.txt"), "wb") as f:
                    f.write(b"x" * (i % 7))
        rd = self.report_dir("big")
        r = sync(self.src, self.dst, "--threads", "2", *report_args(rd), timeout=300)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], self.FILES)
        rep = oracle.TaskReportFiles(rd)
        want = {f"/d{d:02d}/file-{i:05d}.txt" for d in range(40) for i in range(self.FILES // 40)}
        folders = {f"/d{d:02d}" for d in range(40)}
        for cat in ("transferred", "verified"):
            with self.subTest(list=cat):
                parts = rep.parts[cat]
                self.assertGreater(len(parts), 1, parts)
                for name, size, count in parts:
                    self.assertLessEqual(size, oracle.REPORT_PART_LIMIT, name)
                    self.assertGreater(count, 0, name)
                # Parts are filled before the next one starts.
                longest = max(len(str(rec)) for rec in rep.lists[cat][:100]) * 2
                for name, size, _ in parts[:-1]:
                    self.assertGreater(size, oracle.REPORT_PART_LIMIT - longest, name)
                paths = [rec["RelativePath"] for rec in rep.lists[cat]]
                self.assertEqual(len(paths), len(set(paths)), "a path listed twice")
                self.assertEqual(set(paths) - folders, want)
        # Nothing else in the folder (parts are numbered from 00001 without gaps).
        expected = {f"{rep.id}.summary-v1.json"}
        for parts in rep.parts.values():
            expected |= {name for name, _, _ in parts}
        self.assertEqual(set(rep.names), expected)


if __name__ == "__main__":
    unittest.main()
