"""End-to-end: what test_sync_features.DryRun/MaxDelete leave out.

--dry-run: every kind of change (copy, replace, update, link, delete, type
change) is printed with its verb and why; nothing is written, to the point
that no destination entry's inode, ctime, mtime or atime moves, nor its
attributes; a missing destination is not created, nor are its missing
parents. --max-delete: the refusal is said on stderr and in the summary,
folders count with their contents, 0 means no deletion at all, and a dry run
says when the real run would refuse.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_dry_run
"""

import os
import re
import shutil
import stat
import unittest

import oracle
from oracle import FerryTestCase, sync

PLAN_LINE = re.compile(r"^(copy|replace|update|link|delete|skip|fail)\s+(/.*?)\s+\((.+)\)$")


def full_state(root):
    """Everything a write could change, per entry: inode, type and mode,
    owner, size, link count, the three times, content/target, attributes."""
    out = {}
    for rel, st in oracle.walk(root).items():
        extra = None
        if stat.S_ISREG(st.st_mode):
            extra = oracle.digest_rel(root, rel)
        elif stat.S_ISLNK(st.st_mode):
            extra = oracle.readlink_rel(root, rel)
        out[rel] = (st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_nlink,
                    st.st_mtime_ns, st.st_ctime_ns, extra, tuple(sorted(
                        oracle.xattrs_rel(root, rel).items())))
    return out


def atimes(root):
    return {rel: st.st_atime_ns for rel, st in oracle.walk(root).items()}


class DryRunPlan(FerryTestCase):
    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        self.dst = os.path.join(self.base, "dst")
        s = self.src
        os.makedirs(os.path.join(s, "sub"))
        for i in range(6):
            oracle.write_file(os.path.join(s, f"f{i}"), b"content %d\n" % i,
                              mtime_ns=1_500_000_000_000_000_000 + i)
        oracle.write_file(os.path.join(s, "sub", "s1"), b"s1")
        oracle.write_file(os.path.join(s, "sub", "s2"), b"s2")
        if oracle.user_xattrs_supported(s):
            os.setxattr(os.path.join(s, "f0"), b"user.k", b"v")
        self.assertSuccess(sync(s, self.dst))
        # Every kind of change at the source.
        oracle.write_file(os.path.join(s, "f1"), b"new content, longer",
                          mtime_ns=1_600_000_000_000_000_000)  # replace
        os.chmod(os.path.join(s, "f2"), 0o600)  # update (metadata only)
        os.unlink(os.path.join(s, "f3"))  # delete
        shutil.rmtree(os.path.join(s, "sub"))  # delete a folder and its files
        oracle.write_file(os.path.join(s, "new"), b"brand new")  # copy
        os.link(os.path.join(s, "new"), os.path.join(s, "new-link"))  # link
        os.unlink(os.path.join(s, "f5"))
        os.mkdir(os.path.join(s, "f5"))  # a file became a folder
        os.symlink("f0", os.path.join(s, "a-link"))  # copy a symlink
        oracle.write_file(os.path.join(os.fsencode(s), b"odd\nname\xff"), b"x")  # one line

    def dry(self, *extra, dst=None):
        return oracle.run_ferry("sync", self.src, dst or self.dst, "--dry-run",
                                "--preserve-deleted-files", "REMOVE", *extra, json_out=False)

    def test_every_change_printed_with_its_reason(self):
        r = self.dry()
        self.assertEqual(r.rc, 0, r.describe())
        plan = {}
        for line in r.stdout.splitlines():
            m = PLAN_LINE.match(line)
            if m:
                self.assertNotIn(m.group(2), plan, f"{m.group(2)} planned twice")
                plan[m.group(2)] = (m.group(1), m.group(3))
        verbs = {path: verb for path, (verb, _) in plan.items()}
        self.assertEqual(verbs, {
            "/f1": "replace", "/f2": "update", "/f3": "delete", "/sub/": "delete",
            "/sub/s1": "delete", "/sub/s2": "delete", "/new": "copy", "/new-link": "link",
            "/f5/": "replace", "/a-link": "copy", "/odd\\nname\\xFF": "copy"} | (
            {"/": verbs["/"]} if "/" in verbs else {}), r.stdout)
        why = {path: reason for path, (_, reason) in plan.items()}
        self.assertIn("new", why["/new"])
        self.assertIn("/new", why["/new-link"])  # linked to what
        self.assertIn("permission", why["/f2"])
        self.assertIn("not at the source", why["/f3"])
        self.assertIn("type", why["/f5/"])
        self.assertRegex(why["/f1"], r"size|mtime|modified|content")

    def test_writes_nothing_at_all(self):
        before = full_state(self.dst)
        before_atimes = atimes(self.dst)
        r = self.dry("--log-file", os.path.join(self.base, "log.jsonl"))
        self.assertEqual(r.rc, 0, r.describe())
        after = full_state(self.dst)
        changed = sorted(oracle.show(rel) for rel in set(before) | set(after)
                         if before.get(rel) != after.get(rel))
        self.assertEqual(changed, [], "the dry run changed these destination entries")
        self.assertEqual(atimes(self.dst), before_atimes, "a dry run moved access times")
        # And the source is not touched either.
        self.assertEqual(oracle.walk(self.src)[b"f1"].st_mtime_ns, 1_600_000_000_000_000_000)

    def test_missing_destination_and_parents_not_created(self):
        dst = os.path.join(self.base, "missing", "deeper", "dst")
        r = self.dry(dst=dst)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertFalse(os.path.lexists(os.path.join(self.base, "missing")))
        self.assertIn("copy    /new ", r.stdout)

    def test_the_real_run_does_what_was_printed(self):
        r = self.dry()
        planned = {m.group(2).rstrip("/") or "/" for m in map(PLAN_LINE.match, r.stdout.splitlines())
                   if m}
        log = os.path.join(self.base, "real.jsonl")
        real = sync(self.src, self.dst, "--preserve-deleted-files", "REMOVE", "--log-level",
                    "TRANSFER", "--log-file", log)
        self.assertSuccess(real)
        done = {x["path"] for x in oracle.read_log(log)
                if x.get("event") in ("Transferred", "Deleted")}
        self.assertEqual(done - {"/"}, planned - {"/"})
        self.assertTreesEqual(self.src, self.dst)


class MaxDeleteMore(FerryTestCase):
    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        self.dst = os.path.join(self.base, "dst")
        oracle.make_flat_tree(self.src, 6, 100)
        oracle.make_flat_tree(os.path.join(self.src, "folder"), 3, 100, prefix="g")
        self.assertSuccess(sync(self.src, self.dst))

    def remove_folder(self):
        with oracle.keep_dir_mtime(self.src):
            shutil.rmtree(os.path.join(self.src, "folder"))

    def test_refusal_is_said_on_stderr_and_in_the_summary(self):
        self.remove_folder()  # 4 items: the folder and its 3 files
        before = oracle.snapshot(self.dst)
        r = oracle.run_ferry("sync", self.src, self.dst, "--preserve-deleted-files", "REMOVE",
                             "--max-delete", "3", json_out=False)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(oracle.snapshot(self.dst), before)
        self.assertRegex(r.stderr, r"\[ERROR\] Refused to delete 4 items.*--max-delete 3")
        self.assertRegex(r.stdout, r"(?m)^Status:\s+ERROR$")
        self.assertRegex(r.stdout, r"(?m)^Error:\s+MaxDeleteExceeded: .*Nothing was deleted")
        # Exactly at the limit: deleted.
        r = sync(self.src, self.dst, "--preserve-deleted-files", "REMOVE", "--max-delete", "4")
        self.assertSuccess(r)
        self.assertEqual((r["FilesDeleted"], r["FoldersDeleted"]), (3, 1))
        self.assertTreesEqual(self.src, self.dst)

    def test_percent_of_the_destination(self):
        self.remove_folder()
        # 4 of the 10 items listed at the destination (6 + folder + 3): 40%.
        r = sync(self.src, self.dst, "--preserve-deleted-files", "REMOVE", "--max-delete", "39%")
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["Result.ErrorCode"], "MaxDeleteExceeded")
        self.assertIn("4 of 10", r["Result.ErrorDetail"])
        self.assertTrue(os.path.isdir(os.path.join(self.dst, "folder")))
        r = sync(self.src, self.dst, "--preserve-deleted-files", "REMOVE", "--max-delete", "40%")
        self.assertSuccess(r)
        self.assertFalse(os.path.lexists(os.path.join(self.dst, "folder")))

    def test_zero(self):
        # Nothing to delete: fine.
        self.assertSuccess(sync(self.src, self.dst, "--preserve-deleted-files", "REMOVE",
                                "--max-delete", "0"))
        with oracle.keep_dir_mtime(self.src):
            os.unlink(os.path.join(self.src, "f0000"))
        r = sync(self.src, self.dst, "--preserve-deleted-files", "REMOVE", "--max-delete", "0")
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["Result.ErrorCode"], "MaxDeleteExceeded")
        self.assertTrue(os.path.exists(os.path.join(self.dst, "f0000")))

    def test_dry_run_says_the_real_run_would_refuse(self):
        # BUG: `ferry sync SRC DST --dry-run --preserve-deleted-files REMOVE
        # --max-delete 3`, with 4 items to delete, prints "delete" for all 4
        # and ends SUCCESS (exit 0), while the same command without --dry-run
        # refuses (MaxDeleteExceeded, exit 1, nothing deleted). The dry run
        # should predict that: say the deletions would be refused.
        self.remove_folder()
        before = oracle.snapshot(self.dst)
        r = sync(self.src, self.dst, "--dry-run", "--preserve-deleted-files", "REMOVE",
                 "--max-delete", "3")
        self.assertEqual(oracle.snapshot(self.dst), before)
        self.assertEqual(r["Result"].get("ErrorCode"), "MaxDeleteExceeded", r.describe())
        self.assertIn("--max-delete", r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main()
