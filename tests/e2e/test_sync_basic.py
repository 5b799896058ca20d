"""End-to-end: `ferry sync` copies trees, then keeps them in sync.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_basic
"""

import hashlib
import os
import stat
import subprocess
import unittest

import oracle
from oracle import FerryTestCase, sync


def non_root(paths):
    return {p for p in paths if p != b""}


def split_kinds(root, rels):
    """(files, folders) among rels, by their type under root."""
    files, folders = set(), set()
    for rel in rels:
        p = os.path.join(os.fsencode(root), rel) if rel else os.fsencode(root)
        (folders if stat.S_ISDIR(os.lstat(p).st_mode) else files).add(rel)
    return files, folders


class FirstAndSecondRun(FerryTestCase):
    """A generated tree with odd names, copied once, then synced again."""

    @classmethod
    def setUpClass(cls):
        base = oracle.make_scratch(_ClassCleanup(cls))
        cls.src = os.path.join(base, "src")
        cls.dst = os.path.join(base, "dst")
        cls.log = os.path.join(base, "first.jsonl")
        cls.stats = oracle.make_tree(cls.src, seed=1234, files=60, dirs=12)
        cls.first = sync(cls.src, cls.dst, "--log-level", "TRANSFER", "--log-file", cls.log)
        cls.second = sync(cls.src, cls.dst)

    def test_first_run_succeeds(self):
        self.assertSuccess(self.first)
        self.assertEqual(self.first["Result.PrepareStatus"], "SUCCESS")
        self.assertEqual(self.first["Result.TransferStatus"], "SUCCESS")
        self.assertEqual(self.first["Result.VerifyStatus"], "SUCCESS")
        self.assertNotIn("ErrorCode", self.first["Result"])

    def test_first_run_copies_everything(self):
        # The oracle compares after both runs; the second run must not have
        # changed anything either way.
        self.assertTreesEqual(self.src, self.dst)
        self.assertRsyncClean(self.src, self.dst)

    def test_tree_is_what_the_generator_promised(self):
        # Guard the test itself: odd names really are on disk.
        names = {os.path.basename(rel) for rel in oracle.walk(self.src)}
        for odd in (b"new\nline", b"back\\slash", b"\xff\xfe-not-utf8-\xe9", b"a" * 255,
                    b"with space"):
            self.assertIn(odd, names)
        longest = max(len(rel) for rel in oracle.walk(self.src))
        self.assertGreater(longest, 1000)

    def test_first_run_counters(self):
        r = self.first
        files, folders, nbytes = self.stats["files"], self.stats["folders"] - 1, self.stats["bytes"]
        self.assertEqual(r["EstimatedFilesToTransfer"], files)
        self.assertEqual(r["EstimatedBytesToTransfer"], nbytes)
        self.assertEqual(r["FilesTransferred"], files)
        self.assertEqual(r["BytesWritten"], nbytes)
        self.assertEqual(r["FilesListed.AtSource"], files)
        self.assertEqual(r["FoldersListed.AtSource"], folders)
        self.assertEqual(r["FoldersTransferred"], folders)
        self.assertEqual(r["EstimatedFoldersToTransfer"], folders)
        self.assertEqual(r["FilesVerified"], files)
        self.assertEqual(r["FoldersVerified"], folders)
        self.assertEqual(r["FilesSkipped"], 0)
        self.assertEqual(r["FilesDeleted"], 0)
        self.assertEqual(r["FoldersDeleted"], 0)
        self.assertEqual(r["FilesListed.AtDestinationForDelete"], 0)
        self.assertNoFailures(r)

    def test_first_run_bytes_transferred_equals_bytes_written(self):
        # DataSync's BytesTransferred is the bytes sent for the transfer
        # (before compression), not what verification reads back: here
        # exactly the bytes of the files, as every file is new.
        self.assertEqual(self.first["BytesTransferred"], self.stats["bytes"])

    def test_first_run_transfer_log_names_every_item(self):
        records = oracle.read_log(self.log)
        transferred = {r["path"] for r in records if r.get("event") == "Transferred"}
        expected = {oracle.display_path(rel) for rel in oracle.walk(self.src) if rel}
        self.assertEqual(transferred, expected)
        self.assertEqual(records[-1].get("event"), "ExecutionFinished")
        self.assertEqual(records[-1].get("status"), "SUCCESS")

    def test_second_run_transfers_nothing(self):
        r = self.second
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 0)
        self.assertEqual(r["FoldersTransferred"], 0)
        self.assertEqual(r["EstimatedFilesToTransfer"], 0)
        self.assertEqual(r["EstimatedBytesToTransfer"], 0)
        self.assertEqual(r["BytesWritten"], 0)
        self.assertEqual(r["FilesListed.AtSource"], self.stats["files"])
        # Point-in-time verification still checks everything.
        self.assertEqual(r["FilesVerified"], self.stats["files"])
        self.assertEqual(r["FoldersVerified"], self.stats["folders"] - 1)
        self.assertNoFailures(r)


class _ClassCleanup:
    """Lets oracle.make_scratch register a class-level cleanup."""

    def __init__(self, cls):
        self.cls = cls

    def addCleanup(self, fn, *args):
        self.cls.addClassCleanup(fn, *args)


class Changes(FerryTestCase):
    """After a first copy, each kind of change is transferred, and only it."""

    def setUp(self):
        base = self.scratch()
        self.src = os.path.join(base, "src")
        self.dst = os.path.join(base, "dst")
        self.base = base
        oracle.make_tree(self.src, seed=77, files=25, dirs=6)
        k = os.path.join(self.src, "known")
        os.mkdir(k)
        os.mkdir(os.path.join(k, "sub"))
        for name, size in [("same_size.txt", 5000), ("grow.txt", 3000), ("chmod.txt", 100),
                           ("touch.txt", 2000), ("delete_me.txt", 700), ("sub/keep.txt", 10)]:
            oracle.write_file(os.path.join(k, name), os.urandom(size), mode=0o644,
                              mtime_ns=1_600_000_000_123_456_789)
        for d in (os.path.join(k, "sub"), k):
            oracle.set_times(d, 1_600_000_100_000_000_001)
        oracle.set_times(self.src, 1_600_000_200_000_000_002)
        first = sync(self.src, self.dst)
        self.assertSuccess(first)
        self.assertTreesEqual(self.src, self.dst)

    def find(self, name):
        for rel in oracle.walk(self.src):
            if os.path.basename(rel) == name:
                return rel
        self.fail(f"{name!r} not in the generated tree")

    def apply_changes(self):
        s = os.fsencode(self.src)
        k = os.path.join(s, b"known")
        # Same size, new content, new mtime.
        p = os.path.join(k, b"same_size.txt")
        oracle.write_file(p, os.urandom(5000), mtime_ns=1_650_000_000_000_000_001)
        # New size (appended; mtime moves with the write).
        with open(os.path.join(k, b"grow.txt"), "ab") as f:
            f.write(b"more bytes")
        # Mode only: mtime kept.
        os.chmod(os.path.join(k, b"chmod.txt"), 0o600)
        # mtime only (touch -m).
        oracle.bump_mtime(os.path.join(k, b"touch.txt"))
        # A file with an odd name changes content (same size, new mtime).
        odd = os.path.join(s, self.find(b"back\\slash"))
        size = os.path.getsize(odd)
        oracle.write_file(odd, os.urandom(size))
        oracle.bump_mtime(odd, 3_000_000_000)
        # Deleted file.
        os.unlink(os.path.join(k, b"delete_me.txt"))
        # Added files, one in a new folder, one with an odd name.
        oracle.write_file(os.path.join(k, b"new1.txt"), b"new one\n")
        os.mkdir(os.path.join(s, b"newdir"))
        oracle.write_file(os.path.join(s, b"newdir", b"new2.txt"), os.urandom(12345))
        oracle.write_file(os.path.join(k, b"sub", b"new-\xff\n file"), b"odd new\n")
        # Added folders: empty, and nested.
        os.mkdir(os.path.join(s, b"emptydir"))
        os.makedirs(os.path.join(s, b"newtree", b"a", b"b"))
        changed_files = {b"known/same_size.txt", b"known/grow.txt", b"known/chmod.txt",
                         b"known/touch.txt", self.find(b"back\\slash"), b"known/new1.txt",
                         b"newdir/new2.txt", b"known/sub/new-\xff\n file"}
        # Folders whose entries changed (mtime), and the new ones.
        changed_folders = {b"known", b"known/sub", b"newdir", b"emptydir", b"newtree",
                           b"newtree/a", b"newtree/a/b"}
        return changed_files, changed_folders

    def test_changes_transfer_exactly_the_changed_items(self):
        before = oracle.snapshot(self.dst)
        changed_files, changed_folders = self.apply_changes()
        # Two independent views of what changed must agree: the list above
        # and the oracle's comparison of the source with the destination.
        differing = non_root(oracle.differing_paths(self.src, self.dst))
        self.assertEqual(differing, changed_files | changed_folders)
        content_changed = changed_files - {b"known/chmod.txt"}
        expected_bytes = sum(os.path.getsize(os.path.join(os.fsencode(self.src), p))
                             for p in content_changed)

        log = os.path.join(self.base, "changes.jsonl")
        r = sync(self.src, self.dst, "--log-level", "TRANSFER", "--log-file", log)
        self.assertSuccess(r)
        self.assertEqual(r["EstimatedFilesToTransfer"], len(changed_files))
        self.assertEqual(r["FilesTransferred"], len(changed_files))
        self.assertEqual(r["FoldersTransferred"], len(changed_folders))
        self.assertEqual(r["BytesWritten"], expected_bytes)
        self.assertEqual(r["FilesDeleted"], 0)
        self.assertNoFailures(r)

        records = oracle.read_log(log)
        logged = {x["path"] for x in records if x.get("event") == "Transferred"}
        self.assertEqual(logged, {oracle.display_path(p) for p in changed_files | changed_folders})

        # Only the deleted file remains as a difference (PRESERVE keeps it).
        diffs = oracle.compare_trees(self.src, self.dst)
        self.assertEqual(diffs, [f"/known/delete_me.txt: only in {self.dst}"])
        self.assertRsyncClean(self.src, self.dst)
        # Untouched items were not rewritten (same inode, same everything).
        after = oracle.snapshot(self.dst)
        for rel, snap in before.items():
            if rel in differing or rel == b"" or rel == b"known/delete_me.txt":
                continue
            self.assertEqual(after.get(rel), snap, oracle.show(rel))

    def test_type_changes(self):
        s = os.fsencode(self.src)
        k = os.path.join(s, b"known")
        os.unlink(os.path.join(k, b"grow.txt"))
        os.mkdir(os.path.join(k, b"grow.txt"))  # file -> folder
        oracle.write_file(os.path.join(k, b"grow.txt", b"inside"), b"x")
        os.unlink(os.path.join(k, b"sub", b"keep.txt"))
        os.rmdir(os.path.join(k, b"sub"))
        oracle.write_file(os.path.join(k, b"sub"), b"now a file")  # folder -> file
        os.unlink(os.path.join(k, b"touch.txt"))
        os.symlink(b"chmod.txt", os.path.join(k, b"touch.txt"))  # file -> symlink
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertTreesEqual(self.src, self.dst)
        self.assertRsyncClean(self.src, self.dst)

    def test_remove_deletes_exactly_the_removed_items(self):
        s = os.fsencode(self.src)
        d = os.fsencode(self.dst)
        # Files, a symlink and a folder holding a nested folder are removed.
        gone_files = [b"known/delete_me.txt", b"known/sub/keep.txt"]
        os.makedirs(os.path.join(s, b"doomed", b"inner"))
        oracle.write_file(os.path.join(s, b"doomed", b"f1"), b"1")
        oracle.write_file(os.path.join(s, b"doomed", b"inner", b"f2"), b"22")
        os.symlink(b"f1", os.path.join(s, b"doomed", b"inner", b"ln"))
        self.assertSuccess(sync(self.src, self.dst))
        self.assertTreesEqual(self.src, self.dst)
        dst_files_before = oracle.tree_stats(self.dst)["files"]
        dst_folders_before = oracle.tree_stats(self.dst)["folders"] - 1
        for rel in gone_files:
            os.unlink(os.path.join(s, rel))
        os.rmdir(os.path.join(s, b"known", b"sub"))
        for rel in (b"doomed/inner/ln", b"doomed/inner/f2", b"doomed/f1"):
            os.unlink(os.path.join(s, rel))
        os.rmdir(os.path.join(s, b"doomed", b"inner"))
        os.rmdir(os.path.join(s, b"doomed"))
        outside_before = oracle.snapshot(os.path.dirname(d))  # includes src and dst

        log = os.path.join(self.base, "remove.jsonl")
        r = sync(self.src, self.dst, "--preserve-deleted-files", "REMOVE",
                 "--log-level", "TRANSFER", "--log-file", log)
        self.assertSuccess(r)
        # Files: delete_me, keep, f1, f2, ln. Folders: known/sub, doomed, doomed/inner.
        self.assertEqual(r["FilesDeleted"], 5)
        self.assertEqual(r["FoldersDeleted"], 3)
        self.assertEqual(r["EstimatedFilesToDelete"], 5)
        self.assertEqual(r["EstimatedFoldersToDelete"], 3)
        self.assertEqual(r["FilesListed.AtDestinationForDelete"], dst_files_before)
        self.assertEqual(r["FoldersListed.AtDestinationForDelete"], dst_folders_before)
        self.assertNoFailures(r)
        self.assertTreesEqual(self.src, self.dst)
        self.assertEqual(oracle.rsync_itemize(self.src, self.dst, extra=["--delete"]), [])
        deleted = {x["path"] for x in oracle.read_log(log) if x.get("event") == "Deleted"}
        self.assertEqual(deleted, {"/known/delete_me.txt", "/known/sub/keep.txt", "/known/sub",
                                   "/doomed", "/doomed/inner", "/doomed/f1",
                                   "/doomed/inner/f2", "/doomed/inner/ln"})
        # Nothing else changed anywhere: the source is as it was.
        after = oracle.snapshot(os.path.dirname(d))
        for rel, snap in outside_before.items():
            if rel.startswith(b"dst/") or rel in (b"dst", b"", b"remove.jsonl"):
                continue
            self.assertEqual(after.get(rel), snap, oracle.show(rel))

    def test_preserve_keeps_removed_items(self):
        s = os.fsencode(self.src)
        os.unlink(os.path.join(s, b"known", b"delete_me.txt"))
        os.unlink(os.path.join(s, b"known", b"sub", b"keep.txt"))
        os.rmdir(os.path.join(s, b"known", b"sub"))
        r = sync(self.src, self.dst, "--preserve-deleted-files", "PRESERVE")
        self.assertSuccess(r)
        self.assertEqual(r["FilesDeleted"], 0)
        self.assertEqual(r["FoldersDeleted"], 0)
        self.assertEqual(r["FilesListed.AtDestinationForDelete"], 0)
        diffs = oracle.compare_trees(self.src, self.dst)
        self.assertEqual(sorted(diffs), sorted([
            f"/known/delete_me.txt: only in {self.dst}",
            f"/known/sub: only in {self.dst}",
            f"/known/sub/keep.txt: only in {self.dst}",
        ]))
        # The default is PRESERVE too.
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesDeleted"], 0)
        self.assertEqual(len(oracle.compare_trees(self.src, self.dst)), 3)


class Locations(FerryTestCase):
    def test_trailing_slashes_map_root_onto_root(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        oracle.make_tree(src, seed=5, files=10, dirs=3, deep=False)
        variants = [("src/", "d1"), ("src", "d2/"), ("src/", "d3/"), ("src//", "d4"),
                    ("src/.", "d5")]
        for s, d in variants:
            with self.subTest(src=s, dst=d):
                r = sync(os.path.join(base, s), os.path.join(base, d))
                self.assertSuccess(r)
                dst = os.path.join(base, d.rstrip("/"))
                self.assertFalse(os.path.exists(os.path.join(dst, "src")))
                self.assertTreesEqual(src, dst)
        # An existing destination with a trailing slash, second run: nothing to do.
        r = sync(os.path.join(base, "src/"), os.path.join(base, "d1/"))
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 0)

    def test_destination_created_if_missing(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        oracle.make_tree(src, seed=6, files=8, dirs=2, deep=False)
        dst = os.path.join(base, "not", "yet", "there")
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertTrue(os.path.isdir(dst))
        self.assertTreesEqual(src, dst)

    def test_existing_empty_destination(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        oracle.make_tree(src, seed=8, files=8, dirs=2, deep=False)
        os.mkdir(dst, 0o700)
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertTreesEqual(src, dst)  # root metadata applied too


class FileShapes(FerryTestCase):
    def test_large_file_is_chunked_and_exact(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        os.mkdir(src)
        size = 40 * 1024 * 1024 + 12345  # > 2 chunks of 16 MiB, not block aligned
        data = bytearray(os.urandom(size))
        oracle.write_file(os.path.join(src, "big.bin"), data, mtime_ns=1_500_000_000_000_000_005)
        r = sync(src, dst, "--threads", "4")
        self.assertSuccess(r)
        self.assertEqual(r["BytesWritten"], size)
        self.assertEqual(r["FilesTransferred"], 1)
        self.assertTreesEqual(src, dst)
        # One byte changed in the middle of the second chunk, same size and mtime
        # moved: the whole file is exact again afterwards.
        data[20 * 1024 * 1024 + 7] ^= 0xFF
        oracle.write_file(os.path.join(src, "big.bin"), data, mtime_ns=1_500_000_001_000_000_005)
        r = sync(src, dst, "--threads", "4")
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 1)
        self.assertTreesEqual(src, dst)

    def test_sparse_file_keeps_holes(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        os.mkdir(src)
        size = 64 * 1024 * 1024
        path = os.path.join(src, "sparse.img")
        with open(path, "wb") as f:
            f.truncate(size)
            for off in (0, 33 * 1024 * 1024 + 100, size - 4096):
                f.seek(off)
                f.write(os.urandom(4096))
        # A file that is all hole.
        with open(os.path.join(src, "hole-only.img"), "wb") as f:
            f.truncate(8 * 1024 * 1024)
        src_blocks = os.stat(path).st_blocks * 512
        if src_blocks > 4 * 1024 * 1024:
            self.skipTest(f"{base} does not keep holes ({src_blocks} bytes allocated)")
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertTreesEqual(src, dst)
        self.assertEqual(r["BytesWritten"], size + 8 * 1024 * 1024)
        for name in ("sparse.img", "hole-only.img"):
            allocated = os.stat(os.path.join(dst, name)).st_blocks * 512
            self.assertLessEqual(allocated, 4 * 1024 * 1024,
                                 f"{name}: {allocated} bytes allocated at the destination")

    def test_empty_files_and_folders(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        os.makedirs(os.path.join(src, "empty-dir"))
        os.makedirs(os.path.join(src, "holds-empty", "nested-empty"))
        oracle.write_file(os.path.join(src, "empty"), b"", mtime_ns=1_234_567_890_123_456_789)
        oracle.write_file(os.path.join(src, "holds-empty", "zero"), b"", mode=0o600)
        oracle.set_times(os.path.join(src, "holds-empty"), 1_111_111_111_111_111_111)
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 2)
        self.assertEqual(r["FoldersTransferred"], 3)
        self.assertEqual(r["BytesWritten"], 0)
        self.assertTreesEqual(src, dst)
        self.assertRsyncClean(src, dst)


class Metadata(FerryTestCase):
    def test_special_mode_bits_and_extreme_times(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        os.makedirs(os.path.join(src, "sticky"))
        os.makedirs(os.path.join(src, "setgid-dir"))
        oracle.write_file(os.path.join(src, "suid"), b"s", mode=0o4755)
        oracle.write_file(os.path.join(src, "sgid"), b"g", mode=0o2750)
        if oracle.is_root():  # unreadable to anyone else
            oracle.write_file(os.path.join(src, "none"), b"n", mode=0o000)
        os.chmod(os.path.join(src, "sticky"), 0o1777)
        os.chmod(os.path.join(src, "setgid-dir"), 0o2775)
        # Before 1970 (negative), after 2038 (past 32 bits), odd nanoseconds.
        oracle.write_file(os.path.join(src, "old"), b"o", mtime_ns=-297_000_000_123_456_789)
        oracle.write_file(os.path.join(src, "future"), b"f", mtime_ns=10_413_792_000_000_000_001)
        oracle.write_file(os.path.join(src, "epoch"), b"e", mtime_ns=0)
        os.symlink("old", os.path.join(src, "old-link"))
        oracle.set_times(os.path.join(src, "old-link"), -1_000_000_000_000_000_007)
        oracle.set_times(os.path.join(src, "sticky"), 4_102_444_800_999_999_999)
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertTreesEqual(src, dst)
        self.assertEqual(stat.S_IMODE(os.lstat(os.path.join(dst, "suid")).st_mode), 0o4755)
        self.assertEqual(os.lstat(os.path.join(dst, "old")).st_mtime_ns, -297_000_000_123_456_789)
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 0)
        self.assertEqual(r["FoldersTransferred"], 0)

    def test_hard_links_preserved(self):
        # DataSync preserves hard links between file systems.
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        os.makedirs(os.path.join(src, "d"))
        oracle.write_file(os.path.join(src, "a"), os.urandom(1000))
        os.link(os.path.join(src, "a"), os.path.join(src, "d", "a-link"))
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertTreesEqual(src, dst)
        self.assertEqual(os.lstat(os.path.join(dst, "a")).st_ino,
                         os.lstat(os.path.join(dst, "d", "a-link")).st_ino)
        self.assertEqual(os.lstat(os.path.join(dst, "a")).st_nlink, 2)
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 0)
        self.assertEqual(os.lstat(os.path.join(dst, "a")).st_nlink, 2)

    def test_paths_longer_than_path_max(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        os.mkdir(src)
        rel = oracle.make_long_path(src, depth=30, name_len=200)
        self.assertGreater(len(rel), 6000)
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 1)
        self.assertEqual(r["FoldersTransferred"], 30)
        self.assertTreesEqual(src, dst)
        self.assertEqual(oracle.digest_rel(dst, rel), oracle.digest_rel(src, rel))
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"] + r["FoldersTransferred"], 0)

    def test_many_small_files(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        rng = __import__("random").Random(42)
        for d in range(40):
            dpath = os.path.join(src, f"d{d:02d}", f"e{d % 7}")
            os.makedirs(dpath)
            for i in range(60):
                oracle.write_file(os.path.join(dpath, f"{i:03d}"), rng.randbytes(rng.randrange(200)),
                                  mtime_ns=oracle.random_mtime_ns(rng))
        stats = oracle.tree_stats(src)
        self.assertEqual(stats["files"], 2400)
        r = sync(src, dst, "--threads", "8")
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 2400)
        self.assertEqual(r["FoldersTransferred"], 80)
        self.assertEqual(r["BytesWritten"], stats["bytes"])
        self.assertEqual(r["FilesVerified"], 2400)
        self.assertTreesEqual(src, dst)
        self.assertRsyncClean(src, dst)


class SpecialSources(FerryTestCase):
    def test_empty_source(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        os.mkdir(src, 0o750)
        oracle.set_times(src, 1_222_333_444_555_666_777)
        r = sync(src, os.path.join(base, "dst"))
        self.assertSuccess(r)
        self.assertEqual((r["FilesTransferred"], r["FoldersTransferred"]), (0, 0))
        self.assertEqual(os.listdir(os.path.join(base, "dst")), [])
        self.assertTreesEqual(src, os.path.join(base, "dst"))

    def test_fifo_and_socket(self):
        import socket
        base = self.scratch()
        src = os.path.join(base, "src")
        os.mkdir(src)
        os.mkfifo(os.path.join(src, "fifo"), 0o604)
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.bind(os.path.join(src, "sock"))
        finally:
            sock.close()
        oracle.set_times(os.path.join(src, "fifo"), 1_100_000_000_000_000_001)
        r = sync(src, os.path.join(base, "dst"))
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 2)
        self.assertTreesEqual(src, os.path.join(base, "dst"))
        self.assertTrue(stat.S_ISFIFO(os.lstat(os.path.join(base, "dst", "fifo")).st_mode))


class VerifyModes(FerryTestCase):
    def test_verify_modes(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        oracle.make_tree(src, seed=99, files=20, dirs=4, deep=False)
        victim = os.path.join(src, "victim.txt")
        oracle.write_file(victim, b"v1", mtime_ns=1_000_000_000_000_000_001)
        stats = oracle.tree_stats(src)
        files, folders = stats["files"], stats["folders"] - 1
        # (FilesVerified, FoldersVerified) on the first run, and on a second
        # run after one file changed.
        expect = {"POINT_IN_TIME_CONSISTENT": ((files, folders), (files, folders)),
                  "ONLY_FILES_TRANSFERRED": ((files, folders), (1, 0)),
                  "NONE": ((0, 0), (0, 0))}
        for i, (mode, (first, second)) in enumerate(expect.items()):
            with self.subTest(mode=mode):
                oracle.write_file(victim, b"v1", mtime_ns=1_000_000_000_000_000_001)
                dst = os.path.join(base, "dst-" + mode)
                r = sync(src, dst, "--verify-mode", mode)
                self.assertSuccess(r)
                self.assertEqual(r["Options.VerifyMode"], mode)
                self.assertEqual((r["FilesVerified"], r["FoldersVerified"]), first)
                self.assertTreesEqual(src, dst)
                oracle.write_file(victim, b"v2", mtime_ns=1_000_000_000_000_000_002)
                r = sync(src, dst, "--verify-mode", mode)
                self.assertSuccess(r)
                self.assertEqual(r["FilesTransferred"], 1)
                self.assertEqual((r["FilesVerified"], r["FoldersVerified"]), second)
                self.assertTreesEqual(src, dst)


class Checksums(FerryTestCase):
    def test_sha256_algorithm(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        oracle.make_tree(src, seed=3, files=12, dirs=2, deep=False, max_size=3 * 1024 * 1024)
        oracle.write_file(os.path.join(src, "multi-block.bin"), os.urandom(5 * 1024 * 1024 + 3))
        log = os.path.join(base, "log.jsonl")
        r = sync(src, dst, "--checksum-algorithm", "SHA-256", "--log-level", "TRANSFER",
                 "--log-file", log)
        self.assertSuccess(r)
        self.assertEqual(r["Ferry.ChecksumAlgorithm"], "SHA-256")
        self.assertTreesEqual(src, dst)
        want = {}
        for rel, st in oracle.walk(src).items():
            if stat.S_ISREG(st.st_mode):
                want[oracle.display_path(rel)] = oracle.file_digest(
                    os.path.join(os.fsencode(src), rel))
        records = oracle.read_log(log)
        got = {x["path"]: x["checksum"] for x in records
               if x.get("event") == "Transferred" and x.get("type") == "file"}
        self.assertEqual(got, want)
        verified = {x["path"]: x["checksum"] for x in records
                    if x.get("event") == "Verified" and x["path"] in want}
        self.assertEqual(verified, want)

    def test_checksum_command_matches_sha256sum(self):
        base = self.scratch()
        path = os.path.join(base, "some file")
        data = os.urandom(3 * 1024 * 1024 + 17)
        oracle.write_file(path, data)
        r = oracle.run_ferry("checksum", "--algorithm", "SHA-256", path)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(r.stdout.split()[0], hashlib.sha256(data).hexdigest())
        # The empty file too.
        empty = os.path.join(base, "empty")
        oracle.write_file(empty, b"")
        r = oracle.run_ferry("checksum", "--algorithm", "SHA-256", empty)
        self.assertEqual(r.stdout.split()[0], hashlib.sha256(b"").hexdigest())
        # The default algorithm gives a 128-bit digest.
        r = oracle.run_ferry("checksum", path)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertRegex(r.stdout.split()[0], r"^[0-9a-f]{32}$")


class Symlinks(FerryTestCase):
    """Links are copied as links and never followed, in either direction."""

    def build(self, base):
        s = os.path.join(base, "src")
        outside = os.path.join(base, "outside")
        os.makedirs(os.path.join(s, "dir"))
        os.makedirs(os.path.join(s, "was-a-link"))
        os.makedirs(outside)
        oracle.write_file(os.path.join(outside, "victim.txt"), b"outside, must not change\n")
        oracle.write_file(os.path.join(outside, "victim2.txt"), b"also outside\n")
        oracle.write_file(os.path.join(s, "file.txt"), b"inside\n")
        oracle.write_file(os.path.join(s, "was-a-link", "payload"), b"payload\n")
        oracle.write_file(os.path.join(s, "replaces-link.txt"), b"regular file now\n")
        os.symlink("/etc", os.path.join(s, "to-etc"))
        os.symlink("/etc/passwd", os.path.join(s, "to-passwd"))
        os.symlink(outside, os.path.join(s, "to-outside-dir"))
        os.symlink(os.path.join(outside, "victim.txt"), os.path.join(s, "to-outside-file"))
        os.symlink("../../outside", os.path.join(s, "dir", "rel-up"))
        os.symlink("../file.txt", os.path.join(s, "dir", "inner"))
        os.symlink("nowhere", os.path.join(s, "dangling"))
        oracle.set_times(os.path.join(s, "to-etc"), 1_400_000_000_000_000_001)
        # A destination seeded with links where the source has real items.
        d = os.path.join(base, "dst")
        os.makedirs(d)
        os.symlink(outside, os.path.join(d, "was-a-link"))
        os.symlink(os.path.join(outside, "victim2.txt"), os.path.join(d, "replaces-link.txt"))
        return s, d, outside

    def check(self, mode_args):
        base = self.scratch()
        src, dst, outside = self.build(base)
        outside_before = oracle.snapshot(outside)
        etc_before = os.lstat("/etc")
        r = sync(src, dst, *mode_args)
        self.assertSuccess(r)
        self.assertTreesEqual(src, dst)
        for name in ("to-etc", "to-passwd", "to-outside-dir", "to-outside-file", "dangling",
                     "dir/rel-up", "dir/inner"):
            p = os.path.join(dst, name)
            self.assertTrue(os.path.islink(p), name)
            self.assertEqual(os.readlink(p), os.readlink(os.path.join(src, name)))
        self.assertFalse(os.path.islink(os.path.join(dst, "was-a-link")))
        self.assertFalse(os.path.islink(os.path.join(dst, "replaces-link.txt")))
        self.assertEqual(oracle.snapshot(outside), outside_before)
        etc_after = os.lstat("/etc")
        self.assertEqual((etc_after.st_mtime_ns, etc_after.st_mode, etc_after.st_uid),
                         (etc_before.st_mtime_ns, etc_before.st_mode, etc_before.st_uid))
        # Links count as files: 7 links + 3 regular files.
        self.assertEqual(r["FilesListed.AtSource"], 10)
        return src, dst

    def test_links_copied_not_followed(self):
        src, dst = self.check([])
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 0)

    def test_links_not_followed_with_transfer_mode_all(self):
        self.check(["--transfer-mode", "ALL"])

    def test_changed_link_target_is_replaced(self):
        base = self.scratch()
        src, dst, outside = self.build(base)
        self.assertSuccess(sync(src, dst))
        os.unlink(os.path.join(src, "to-outside-dir"))
        os.symlink("somewhere/else", os.path.join(src, "to-outside-dir"))
        before = oracle.snapshot(outside)
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 1)
        self.assertEqual(os.readlink(os.path.join(dst, "to-outside-dir")), "somewhere/else")
        self.assertEqual(oracle.snapshot(outside), before)
        self.assertTreesEqual(src, dst)


if __name__ == "__main__":
    unittest.main()
