"""End-to-end: `ferry sync` when things go wrong.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_errors
"""

import os
import shutil
import signal
import stat
import subprocess
import time
import unittest
import json

import oracle
from oracle import FerryTestCase, sync

SKIPPED_DETAIL = ("Transfer and verification completed. Selected files transferred except "
                  "for files skipped due to errors.")
MISMATCH_DETAIL_PREFIX = "Transfer and verification completed. Verification detected mismatches."
NOBODY = 65534


def temp_leftovers(root):
    return [oracle.show(rel) for rel in oracle.walk(root)
            if os.path.basename(rel).startswith(b".ferry-tmp-")]



def host_tag():
    """The tag ferry puts in its temporary names: FNV-1a of this boot's id
    and the PID namespace (src/ferry/storage/posix/posix_root.cc, HostTag)."""
    with open("/proc/sys/kernel/random/boot_id", "rb") as f:
        text = f.read(128)
    st = os.stat("/proc/self/ns/pid")
    text += f":{st.st_dev}:{st.st_ino}".encode()
    h = 2166136261
    for c in text:
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h or 1

class Unprivileged(FerryTestCase):
    """Permission errors need a user chmod applies to: run ferry as nobody."""

    def setUp(self):
        self.nobody = oracle.as_nobody()  # fails, never skips, when it cannot
        self.base = self.scratch()
        os.chmod(self.base, 0o755)
        self.src = os.path.join(self.base, "src")
        self.out = os.path.join(self.base, "out")  # nobody's: dst and logs go here
        os.mkdir(self.out)
        if oracle.is_root():
            os.chown(self.out, NOBODY, NOBODY)
        self.dst = os.path.join(self.out, "dst")
        self.log = os.path.join(self.out, "log.jsonl")

    def give_to_nobody(self):
        if not oracle.is_root():
            return
        for rel in oracle.walk(self.src):
            os.lchown(os.path.join(os.fsencode(self.src), rel) if rel else self.src,
                      NOBODY, NOBODY)

    def run_unreadable_file(self):
        oracle.make_tree(self.src, seed=404, files=15, dirs=3, deep=False, owners=False,
                         fifos=False, modes=False)
        locked = os.path.join(self.src, "locked.bin")
        oracle.write_file(locked, os.urandom(4096))
        self.give_to_nobody()
        with oracle.keep_dir_mtime(self.src):
            os.chmod(locked, 0)
        r = sync(self.src, self.dst, "--log-file", self.log, **self.nobody)
        return r, oracle.tree_stats(self.src)

    def test_unreadable_file_is_skipped_and_logged(self):
        r, stats = self.run_unreadable_file()
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["Status"], "ERROR")
        self.assertEqual(r["FilesFailed.Transfer"], 1)
        self.assertEqual(r["FilesTransferred"], stats["files"] - 1)
        self.assertEqual(r["Result.TransferStatus"], "ERROR")
        self.assertIsInstance(r["Result.ErrorCode"], str)
        self.assertNotEqual(r["Result.ErrorCode"], "")
        # Every other file arrived, exactly; the locked one did not.
        diffs = oracle.compare_trees(self.src, self.dst)
        self.assertEqual(diffs, [f"/locked.bin: only in {self.src}"])
        self.assertEqual(temp_leftovers(self.dst), [])
        errors = [x for x in oracle.read_log(self.log) if x.get("level") == "ERROR"
                  and x.get("path") == "/locked.bin"]
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("Permission denied", errors[0]["message"])
        # The log on stderr names it too.
        self.assertIn("/locked.bin", r.stderr)

    def test_unreadable_file_error_detail(self):
        # The file that failed to transfer is not counted again as a
        # verification mismatch: DataSync's "skipped due to errors" detail.
        r, _ = self.run_unreadable_file()
        self.assertEqual(r["FilesFailed.Verify"], 0)
        self.assertEqual(r["Result.ErrorDetail"], SKIPPED_DETAIL)

    def test_unreadable_file_with_only_files_transferred(self):
        oracle.make_flat_tree(self.src, 4, 1000)
        with oracle.keep_dir_mtime(self.src):
            oracle.write_file(os.path.join(self.src, "locked"), b"secret")
        self.give_to_nobody()
        os.chmod(os.path.join(self.src, "locked"), 0)
        r = sync(self.src, self.dst, "--verify-mode", "ONLY_FILES_TRANSFERRED",
                 **self.nobody)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["Status"], "ERROR")
        self.assertEqual(r["FilesFailed.Transfer"], 1)
        self.assertEqual(r["FilesTransferred"], 4)
        self.assertEqual(r["Result.ErrorDetail"], SKIPPED_DETAIL)

    def test_unlistable_folder(self):
        oracle.make_flat_tree(os.path.join(self.src, "ok"), 3, 100)
        oracle.make_flat_tree(os.path.join(self.src, "locked", "inner"), 2, 100)
        self.give_to_nobody()
        with oracle.keep_dir_mtime(self.src):
            os.chmod(os.path.join(self.src, "locked"), 0)
        r = sync(self.src, self.dst, "--log-file", self.log, **self.nobody)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["Status"], "ERROR")
        self.assertEqual(r["FoldersFailed.List"], 1)
        self.assertEqual(r["FilesTransferred"], 3)
        self.assertEqual(r["Result.ErrorDetail"], SKIPPED_DETAIL)
        for i in range(3):
            self.assertTrue(os.path.isfile(os.path.join(self.dst, "ok", f"f{i:04d}")))
        logged = [x for x in oracle.read_log(self.log) if x.get("level") == "ERROR"
                  and x.get("path") == "/locked"]
        self.assertTrue(logged)

    def test_remove_deletes_nothing_after_errors(self):
        # A destination item whose source folder could not be listed must not
        # be deleted: it may well still exist at the source.
        oracle.make_flat_tree(os.path.join(self.src, "locked"), 2, 100)
        oracle.make_flat_tree(os.path.join(self.src, "ok"), 2, 100)
        self.give_to_nobody()
        self.assertSuccess(sync(self.src, self.dst, **self.nobody))
        with oracle.keep_dir_mtime(self.src):
            os.chmod(os.path.join(self.src, "locked"), 0)
        r = sync(self.src, self.dst, "--preserve-deleted-files", "REMOVE", **self.nobody)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["FilesDeleted"], 0)
        os.chmod(os.path.join(self.dst, "locked"), 0o700)  # it may carry the source's 000
        self.assertTrue(os.path.isfile(os.path.join(self.dst, "locked", "f0000")))
        self.assertTrue(os.path.isfile(os.path.join(self.dst, "locked", "f0001")))

    def test_unwritable_destination(self):
        oracle.make_flat_tree(self.src, 2, 100)
        self.give_to_nobody()
        ro = os.path.join(self.base, "readonly")
        os.mkdir(ro)
        os.chmod(ro, 0o555)  # nobody (ferry's user) cannot create anything in it
        r = sync(self.src, os.path.join(ro, "dst"), **self.nobody)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertIn("ferry sync: destination", r.stderr)
        self.assertEqual(os.listdir(ro), [])


    def test_read_only_folder_updated_by_non_root(self):
        # Run as a non-root user, ferry copies a read-only source folder
        # (0555) as read-only; the next run must still be able to change
        # what is inside it (rsync adds u+w meanwhile).
        os.makedirs(os.path.join(self.src, "ro"))
        oracle.write_file(os.path.join(self.src, "ro", "old"), b"old")
        self.give_to_nobody()
        os.chmod(os.path.join(self.src, "ro"), 0o555)
        self.assertSuccess(sync(self.src, self.dst, **self.nobody))
        os.chmod(os.path.join(self.src, "ro"), 0o755)
        oracle.write_file(os.path.join(self.src, "ro", "new"), b"new")
        oracle.write_file(os.path.join(self.src, "ro", "old"), b"changed",
                          mtime_ns=1_700_000_000_000_000_000)
        self.give_to_nobody()
        os.chmod(os.path.join(self.src, "ro"), 0o555)
        r = sync(self.src, self.dst, **self.nobody)
        self.assertSuccess(r)
        self.assertTreesEqual(self.src, self.dst)


class BadLocations(FerryTestCase):
    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        oracle.make_flat_tree(os.path.join(self.src, "sub"), 2, 10)

    def test_missing_source(self):
        missing = os.path.join(self.base, "no-such-source")
        dst = os.path.join(self.base, "dst")
        r = oracle.run_ferry("sync", missing, dst, json_out=False)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertIn("no-such-source", r.stderr)
        self.assertIn("does not exist", r.stderr)
        self.assertFalse(os.path.lexists(dst))

    def test_source_is_a_file(self):
        f = os.path.join(self.base, "afile")
        oracle.write_file(f, b"x")
        dst = os.path.join(self.base, "dst")
        r = oracle.run_ferry("sync", f, dst, json_out=False)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertIn("not a directory", r.stderr)
        self.assertFalse(os.path.lexists(dst))

    def test_destination_is_a_file(self):
        f = os.path.join(self.base, "afile")
        oracle.write_file(f, b"x")
        r = oracle.run_ferry("sync", self.src, f, json_out=False)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertIn("not a directory", r.stderr)
        with open(f, "rb") as fh:
            self.assertEqual(fh.read(), b"x")

    def assertRejectedInside(self, src, dst, message):
        before = oracle.snapshot(self.base)
        r = oracle.run_ferry("sync", src, dst, json_out=False)
        self.assertEqual(r.rc, 2, r.describe())
        self.assertIn(message, r.stderr)
        self.assertEqual(oracle.snapshot(self.base), before)

    def test_destination_inside_source_rejected(self):
        for dst in ("src/sub/dst", "src/new", "src/sub", "./src/new/deeper/"):
            with self.subTest(dst=dst):
                self.assertRejectedInside(self.src, os.path.join(self.base, dst), "inside")
        # Through a symlink that leads into the source.
        os.symlink(os.path.join(self.src, "sub"), os.path.join(self.base, "sneaky"))
        self.assertRejectedInside(self.src, os.path.join(self.base, "sneaky", "x"), "inside")

    def test_source_equals_destination_rejected(self):
        os.symlink(self.src, os.path.join(self.base, "alias"))
        for dst in ("src", "src/", "src/.", "src/../src", "alias", "alias/"):
            with self.subTest(dst=dst):
                self.assertRejectedInside(self.src, os.path.join(self.base, dst),
                                          "same directory")

    def test_sibling_with_common_prefix_is_fine(self):
        dst = self.src + "-copy"
        r = sync(self.src, dst)
        self.assertSuccess(r)
        self.assertTreesEqual(self.src, dst)


class Verification(FerryTestCase):
    def test_silent_destination_corruption_detected(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        oracle.make_flat_tree(src, 4, 5000)
        log = os.path.join(base, "log.jsonl")
        self.assertSuccess(sync(src, dst))
        # Same size, same mtime, one bit flipped: CHANGED does not transfer
        # it, point-in-time verification must catch it.
        victim = os.path.join(dst, "f0002")
        st = os.stat(victim)
        with open(victim, "r+b") as f:
            f.seek(1234)
            b = f.read(1)
            f.seek(1234)
            f.write(bytes([b[0] ^ 1]))
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
        r = sync(src, dst, "--log-file", log)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["Status"], "ERROR")
        self.assertEqual(r["FilesFailed.Verify"], 1)
        self.assertEqual(r["Result.VerifyStatus"], "ERROR")
        self.assertTrue(r["Result.ErrorDetail"].startswith(MISMATCH_DETAIL_PREFIX),
                        r["Result.ErrorDetail"])
        notices = [x for x in oracle.read_log(log) if x.get("path") == "/f0002"
                   and x.get("level") == "NOTICE"]
        self.assertTrue(notices)
        self.assertIn("Verification failed <> /f0002", notices[0]["message"])
        # ONLY_FILES_TRANSFERRED does not look at untransferred files.
        r = sync(src, dst, "--verify-mode", "ONLY_FILES_TRANSFERRED")
        self.assertSuccess(r)
        # TransferMode ALL repairs it.
        r = sync(src, dst, "--transfer-mode", "ALL")
        self.assertSuccess(r)
        self.assertTreesEqual(src, dst)


class SourceChangingDuringTransfer(FerryTestCase):
    def test_success_only_when_the_copy_is_exact(self):
        # Files are appended to, overwritten in place (same size) and
        # truncated while a slow transfer reads them. Whatever ferry does, it
        # may only report SUCCESS if the destination then equals the source;
        # otherwise it must say why, and the next run must converge.
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        oracle.make_flat_tree(src, 3, 2 * 1024 * 1024, seed=12)
        proc = subprocess.Popen(
            oracle.ferry_cmd() + ["sync", src, dst, "--json", "--threads", "3",
                                  "--bytes-per-second", str(2 * 1024 * 1024)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Until the transfer is under way: it has read 1 MiB of the 6 (at 2 MB/s).

        def reading():
            io = oracle.proc_io(proc.pid)
            return proc.poll() is not None or (io is not None and io["rchar"] >= 1024 * 1024)
        oracle.wait_for(reading, 30, 0.02, "ferry to read the first MiB")
        running = proc.poll() is None
        with open(os.path.join(src, "f0000"), "ab") as f:
            f.write(os.urandom(100))
        with open(os.path.join(src, "f0001"), "r+b") as f:
            f.write(os.urandom(1024 * 1024))
        with open(os.path.join(src, "f0002"), "r+b") as f:
            f.truncate(1024 * 1024)
        out, err = proc.communicate(timeout=oracle.scaled(60))
        self.assertTrue(running, "the transfer ended before the files changed")
        j = json.loads(out)
        diffs = oracle.compare_trees(src, dst)
        if proc.returncode == 0:
            self.assertEqual(j["Status"], "SUCCESS")
            self.assertEqual(diffs, [], "SUCCESS reported, but the copy is not exact:\n"
                             + "\n".join(diffs))
        else:
            self.assertEqual(proc.returncode, 1, oracle.describe_output("stderr", err))
            self.assertEqual(j["Status"], "ERROR")
            self.assertNotEqual(j["Result"].get("ErrorDetail", ""), "")
        self.assertEqual(temp_leftovers(dst), [])
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertTreesEqual(src, dst)


class Cancellation(FerryTestCase):
    TOTAL_FILES = 9

    def build(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        oracle.make_flat_tree(src, 5, 1024 * 1024, seed=8)
        oracle.make_flat_tree(os.path.join(src, "nested", "deeper"), 3, 1024 * 1024, seed=9)
        oracle.write_file(os.path.join(src, "nested", "big"), os.urandom(6 * 1024 * 1024))
        self.assertEqual(oracle.tree_stats(src)["files"], self.TOTAL_FILES)
        return src, dst

    def start(self, src, dst, *extra):
        cmd = oracle.ferry_cmd() + ["sync", src, dst, "--json", "--threads", "2",
                                    "--bytes-per-second", str(2 * 1024 * 1024), *extra]
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def wait_for_progress(self, proc, dst):
        """Until some files are done (under their final names) and others in
        flight (the run goes on), or ferry ended."""
        def files_done():
            if proc.poll() is not None:
                return True
            if not os.path.isdir(dst):
                return False
            return any(stat.S_ISREG(st.st_mode)
                       and not os.path.basename(rel).startswith(b".ferry-tmp-")
                       for rel, st in oracle.walk(dst).items())
        oracle.wait_for(files_done, 30, 0.02, f"a file transferred to {dst}")

    def assertNoPartialFiles(self, src, dst):
        s, d = os.fsencode(src), os.fsencode(dst)
        present = 0
        for rel, st in oracle.walk(dst).items():
            if not stat.S_ISREG(st.st_mode):
                continue
            if os.path.basename(rel).startswith(b".ferry-tmp-"):
                continue  # not under a final name
            present += 1
            self.assertEqual(oracle.file_digest(os.path.join(d, rel)),
                             oracle.file_digest(os.path.join(s, rel)),
                             f"{oracle.show(rel)} is at the destination but differs")
        return present

    def cancel_with(self, sig):
        src, dst = self.build()
        proc = self.start(src, dst)
        self.wait_for_progress(proc, dst)
        self.assertIsNone(proc.poll(), "finished before it could be cancelled")
        sent = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=oracle.scaled(60))
        stopped_after = time.monotonic() - sent
        self.assertEqual(proc.returncode, 1, oracle.describe_output("stderr", err))
        j = json.loads(out)
        self.assertEqual(j["Status"], "ERROR")
        self.assertEqual(j["Result"]["ErrorCode"], "OperationCanceled")
        self.assertLess(j["FilesTransferred"], self.TOTAL_FILES)
        self.assertLess(stopped_after, oracle.scaled(10), "cancellation took too long")
        self.assertEqual(temp_leftovers(dst), [])
        present = self.assertNoPartialFiles(src, dst)
        self.assertLess(present, self.TOTAL_FILES)
        # A second run completes the job.
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], self.TOTAL_FILES - present)
        self.assertTreesEqual(src, dst)
        self.assertRsyncClean(src, dst)

    def test_sigterm_cancels_cleanly(self):
        self.cancel_with(signal.SIGTERM)

    def test_sigint_cancels_cleanly(self):
        self.cancel_with(signal.SIGINT)

    def test_killed_execution_is_repaired_by_the_next(self):
        # SIGKILL (a crash, the OOM killer, a second Ctrl-C): no cleanup at all.
        src, dst = self.build()
        proc = self.start(src, dst)
        self.wait_for_progress(proc, dst)
        self.assertIsNone(proc.poll(), "finished before it could be killed")
        proc.kill()
        proc.communicate(timeout=30)
        self.assertNoPartialFiles(src, dst)
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertTreesEqual(src, dst, ignore=lambda rel: os.path.basename(rel).startswith(
            b".ferry-tmp-"))

    def test_stale_temp_files_of_a_killed_run_are_cleaned_up(self):
        # Where the destination has no O_TMPFILE (NFS, for one) a killed run
        # leaves named .ferry-tmp-<host tag>-<pid>-<n> files; the next run
        # removes them ("the next execution makes the destination
        # consistent"). O_TMPFILE works here, so the leftovers are planted:
        # named after a process of this host that has exited, or untouched
        # for two days (another host's, which cannot be asked).
        src, dst = self.build()
        self.assertSuccess(sync(src, dst))
        gone = subprocess.Popen(["true"])
        gone.wait()
        tag = host_tag()
        planted = [f".ferry-tmp-{tag:x}-{gone.pid:x}-0",
                   f"nested/.ferry-tmp-{tag:x}-{gone.pid:x}-1",
                   f"nested/deeper/.ferry-tmp-{tag:x}-{gone.pid:x}-1f",
                   f"nested/.ferry-tmp-{tag ^ 1:x}-{os.getpid():x}-2"]
        for rel in planted:
            oracle.write_file(os.path.join(dst, rel), b"partial" * 1000, mode=0o600)
        two_days_ago = time.time() - 2 * 86400
        os.utime(os.path.join(dst, planted[-1]), (two_days_ago, two_days_ago))
        self.assertEqual(len(temp_leftovers(dst)), 4)
        self.assertSuccess(sync(src, dst))
        self.assertEqual(temp_leftovers(dst), [])
        self.assertTreesEqual(src, dst)

    def test_temp_files_of_a_live_process_are_left_alone(self):
        # Another process (this test, here; or one on another host of a
        # shared destination, which cannot be asked) may be writing it now.
        src, dst = self.build()
        self.assertSuccess(sync(src, dst))
        tag = host_tag()
        live = os.path.join(dst, "nested", f".ferry-tmp-{tag:x}-{os.getpid():x}-0")
        oracle.write_file(live, b"in progress")
        gone = subprocess.Popen(["true"])
        gone.wait()
        elsewhere = os.path.join(dst, f".ferry-tmp-{tag ^ 1:x}-{gone.pid:x}-0")
        oracle.write_file(elsewhere, b"another host's upload")
        self.assertSuccess(sync(src, dst, "--preserve-deleted-files", "REMOVE"))
        self.assertTrue(os.path.exists(live))
        self.assertTrue(os.path.exists(elsewhere))
        self.assertTreesEqual(src, dst, ignore=lambda rel: b".ferry-tmp-" in rel)

if __name__ == "__main__":
    unittest.main()
