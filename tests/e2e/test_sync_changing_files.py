"""End-to-end: open, changing and locked source files.

A file rewritten continuously while ferry runs (a writer thread here) is read
again, then transferred as read; the summary and the --json "Ferry" key name
it, and point-in-time verification reports it as DataSync does (a file
written during the transfer is an inconsistency at verification; the next run
gets its final version). A file another process holds open with locks is
copied like any other (DataSync copies open files; Linux locks are advisory).
Unreadable files: see test_sync_errors.Unprivileged and
test_sync_task_reports.ErrorsOnly.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_changing_files
"""

import fcntl
import json
import os
import random
import subprocess
import sys
import threading
import time
import unittest

import oracle
from oracle import FerryTestCase, sync

HOT_SIZE = 1_000_000
RATE = 4_000_000  # one read of the hot file takes 0.25 s


class Writer(threading.Thread):
    """Rewrites 4 KiB of `path` (`size` bytes) at a random offset every few
    milliseconds (size constant, mtime and ctime always moving) until
    stopped."""

    def __init__(self, path, size=HOT_SIZE):
        super().__init__(daemon=True)
        self.path = path
        self.size = size
        self.stop = threading.Event()
        self.writes = 0

    def run(self):
        rng = random.Random(9)
        fd = os.open(self.path, os.O_WRONLY)
        try:
            while not self.stop.is_set():
                os.pwrite(fd, rng.randbytes(4096), rng.randrange(0, self.size - 4096))
                self.writes += 1
                time.sleep(0.003)  # the pace of the rewrites (a timing under test)
        finally:
            os.close(fd)

    def __enter__(self):
        self.start()
        oracle.wait_for(lambda: self.writes > 0, 10, 0.005, "the writer thread's first write")
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join()
        return False


class ChangingFile(FerryTestCase):
    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        self.dst = os.path.join(self.base, "dst")
        oracle.make_flat_tree(self.src, 5, 1000)
        self.hot = os.path.join(self.src, "hot.bin")
        oracle.write_file(self.hot, os.urandom(HOT_SIZE))

    def run_while_writing(self, *extra, json_out=True):
        log = os.path.join(self.base, f"log-{len(os.listdir(self.base))}.jsonl")
        with Writer(self.hot) as w:
            r = sync(self.src, self.dst, "--bytes-per-second", str(RATE), "--threads", "2",
                     "--log-file", log, *extra, json_out=json_out)
            writes_during = w.writes
        self.assertGreater(writes_during, 50, "the writer did not run")
        return r, oracle.read_log(log)

    def test_retried_then_transferred_as_read_and_reported(self):
        r, log = self.run_while_writing()
        # Transferred (as read), after reading it again: at least two reads
        # of 0.25 s each at the rate limit.
        self.assertEqual(r["FilesTransferred"], 6, r.describe())
        self.assertEqual(r["FilesFailed.Transfer"], 0)
        self.assertGreaterEqual(r["Result.TransferDuration"], 2 * HOT_SIZE / RATE * 1000 * 0.9,
                                "the changing file was not read again")
        self.assertEqual(os.path.getsize(os.path.join(self.dst, "hot.bin")), HOT_SIZE)
        self.assertEqual(r["Ferry.FilesChangedWhileRead"], ["/hot.bin"])
        self.assertEqual(r["Ferry.FilesChangedWhileReadCount"], 1)
        warned = [x for x in log if x.get("event") == "FileChangedDuringTransfer"]
        self.assertEqual([x["path"] for x in warned], ["/hot.bin"])
        self.assertEqual(warned[0]["level"], "WARN")
        # Verification finds the inconsistency, as DataSync's would.
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["Status"], "ERROR")
        self.assertEqual(r["Result.ErrorCode"], "VerificationFailed")
        self.assertEqual(r["FilesFailed.Verify"], 1)
        self.assertEqual(r["FilesVerified"], 5)
        failed = [x["path"] for x in log if x.get("event") == "VerificationFailed"]
        self.assertEqual(failed, ["/hot.bin"])
        # Every other file is exact.
        diffs = oracle.compare_trees(self.src, self.dst)
        self.assertTrue(diffs and all(d.startswith("/hot.bin:") for d in diffs), diffs)
        # Once the writer has stopped, the next run gets the final version.
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 1)
        self.assertEqual(r["Ferry.FilesChangedWhileRead"], [])
        self.assertTreesEqual(self.src, self.dst)

    def test_summary_names_the_changing_file(self):
        r, _ = self.run_while_writing("--no-progress", json_out=False)
        self.assertEqual(r.rc, 1, r.describe())
        lines = r.stdout.splitlines()
        changing = [i for i, line in enumerate(lines) if line.startswith("Changing:")]
        self.assertEqual(len(changing), 1, r.stdout)
        self.assertIn("1 file(s) changed while being read", lines[changing[0]])
        self.assertEqual(lines[changing[0] + 1].strip(), "/hot.bin", r.stdout)
        self.assertIn("VerificationFailed", r.stdout)


class OpenAndLockedFiles(FerryTestCase):
    def test_files_held_open_and_locked_are_copied(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        oracle.make_flat_tree(src, 3, 5000)
        held = os.path.join(src, "database.db")
        oracle.write_file(held, os.urandom(50_000), mtime_ns=1_500_000_000_000_000_007)
        flocked = os.path.join(src, "flocked")
        oracle.write_file(flocked, b"flock", mtime_ns=1_500_000_000_000_000_009)
        # Another process (a child, so POSIX locks conflict with nobody's
        # but its own) holds the files open for writing, locked.
        holder = subprocess.Popen(
            [sys.executable, "-c", "import fcntl, os, sys\n"
             "a = os.open(sys.argv[1], os.O_RDWR); fcntl.lockf(a, fcntl.LOCK_EX)\n"
             "b = os.open(sys.argv[2], os.O_RDWR); fcntl.flock(b, fcntl.LOCK_EX)\n"
             "print('locked', flush=True); sys.stdin.read()", held, flocked],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(holder.stdout.readline().strip(), "locked")
            # The locks really are held.
            fd = os.open(held, os.O_RDWR)
            try:
                with self.assertRaises(OSError):
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
            r = sync(src, dst)
        finally:
            holder.stdin.close()
            holder.wait(timeout=10)
            holder.stdout.close()
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 5)
        self.assertTreesEqual(src, dst)


if __name__ == "__main__":
    unittest.main()
