"""End-to-end: interrupted executions.

SIGINT during a transfer cancels it (ERROR, OperationCanceled) without leaving
a temporary file or a partial file under a final name, and still writes the
log milestone and the task report; a second SIGINT aborts at once (exit 130),
still without a partial file under a final name. SIGKILL at several random moments of a
transfer of a few large files (each run picking up where the last was killed):
after every kill each destination file equals its source byte for byte or is
absent; the run that finally completes transfers exactly what the oracle finds
missing or different, and ends SUCCESS. (test_sync_errors.Cancellation has the
basic single-signal versions.)

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_interrupts
"""

import json
import os
import random
import signal
import stat
import subprocess
import time
import unittest

import oracle
from oracle import FerryTestCase, sync

MiB = 1024 * 1024
TEMP_PREFIX = b".ferry-tmp-"


def build(src):
    """A few large files and some small ones, in nested folders."""
    rng = random.Random(17)
    for rel, size in (("big-0", 4 * MiB), ("a/big-1", 4 * MiB + 123), ("a/b/big-2", 3 * MiB),
                      ("c/big-3", 5 * MiB - 7)):
        path = os.path.join(src, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        oracle.write_file(path, rng.randbytes(size), mtime_ns=oracle.random_mtime_ns(rng))
    for i in range(20):
        rel = os.path.join(["", "a", "a/b", "c"][i % 4], f"small-{i:02d}")
        oracle.write_file(os.path.join(src, rel), rng.randbytes(rng.randrange(20_000)),
                          mtime_ns=oracle.random_mtime_ns(rng))
    return oracle.tree_stats(src)


class Interrupts(FerryTestCase):
    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        self.dst = os.path.join(self.base, "dst")
        self.stats = build(self.src)

    def start(self, *extra, rate=16 * MiB, stderr=subprocess.PIPE):
        cmd = oracle.ferry_cmd() + ["sync", self.src, self.dst, "--json", "--threads", "2",
                                    "--bytes-per-second", str(rate), *extra]
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr, text=True)

    @staticmethod
    def wait_read(proc, nbytes, interval=0.02):
        """Until ferry has read nbytes (/proc/PID/io rchar) or ended; returns
        what it had read."""
        read = [0]

        def enough():
            if proc.poll() is not None:
                return True
            io = oracle.proc_io(proc.pid)
            if io is not None:
                read[0] = io["rchar"]
            return read[0] >= nbytes
        oracle.wait_for(enough, 60, interval, f"ferry to read {nbytes} bytes",
                        lambda: f"it read {read[0]}")
        return read[0]

    def check_destination(self, context):
        """Every regular file under a final name equals its source; any other
        name is a ferry temporary file. Returns (files present, temp names)."""
        if not os.path.exists(self.dst):
            return 0, []
        src_walk = oracle.walk(self.src)
        present, temps = 0, []
        for rel, st in oracle.walk(self.dst).items():
            if not rel:
                continue
            if os.path.basename(rel).startswith(TEMP_PREFIX):
                temps.append(rel)
                continue
            self.assertIn(rel, src_walk, f"{context}: {oracle.show(rel)} is not at the source")
            self.assertEqual(oracle.kind(st), oracle.kind(src_walk[rel]), context)
            if stat.S_ISREG(st.st_mode):
                present += 1
                self.assertEqual(st.st_size, src_walk[rel].st_size,
                                 f"{context}: {oracle.show(rel)} is partial")
                self.assertEqual(oracle.digest_rel(self.dst, rel),
                                 oracle.digest_rel(self.src, rel),
                                 f"{context}: {oracle.show(rel)} differs from its source")
        return present, temps

    def test_sigint_cancels_cleanly_with_log_and_report(self):
        log = os.path.join(self.base, "log.jsonl")
        reports = os.path.join(self.base, "reports")
        proc = self.start("--log-file", log, "--task-report-dir", reports, rate=4 * MiB)
        # Until the first large file is half way (it is in flight).
        self.wait_read(proc, 2 * MiB)
        self.assertIsNone(proc.poll(), "finished before it could be interrupted")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=oracle.scaled(30))
        self.assertEqual(proc.returncode, 1, oracle.describe_output("stderr", err))
        self.assertIn("cancelling", err)
        r = json.loads(out)
        self.assertEqual(r["Status"], "ERROR")
        self.assertEqual(r["Result"]["ErrorCode"], "OperationCanceled")
        self.assertLess(r["FilesTransferred"], self.stats["files"])
        present, temps = self.check_destination("after SIGINT")
        self.assertEqual(temps, [], "temporary files left")
        self.assertLess(present, self.stats["files"])
        self.assertEqual(present, r["FilesTransferred"])
        # The log and the report record the cancellation.
        last = oracle.read_log(log)[-1]
        self.assertEqual((last["event"], last["errorCode"]),
                         ("ExecutionFinished", "OperationCanceled"))
        rep = oracle.TaskReportFiles(reports)
        self.assertEqual(rep.summary["Status"], "ERROR")
        self.assertEqual(rep.summary["Result"]["ErrorCode"], "OperationCanceled")
        done = {p for p, rec in rep.by_path("transferred").items()
                if rec["TransferStatus"] == "SUCCESS" and rec["SrcMetadata"]["Type"] == "Regular"}
        self.assertEqual(len(done), present)
        # The next run completes the job.
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], self.stats["files"] - present)
        self.assertTreesEqual(self.src, self.dst)

    def test_second_sigint_aborts_at_once_without_partial_files(self):
        err_path = os.path.join(self.base, "stderr.txt")
        # A cancellation takes a few milliseconds (about 5 in a release
        # build): the second SIGINT can come after it has ended, and then
        # nothing was tested (ferry ends cancelled, 1, with its result). That
        # attempt is made again, on what the destination holds by then; a
        # second SIGINT that is never acted on fails every attempt.
        for attempt in range(5):
            with open(err_path, "wb") as err_file:
                proc = self.start(rate=4 * MiB, stderr=err_file)
            self.wait_read(proc, 3 * MiB)
            self.assertIsNone(proc.poll(), "finished before it could be interrupted")
            proc.send_signal(signal.SIGINT)
            # The second SIGINT once ferry has handled the first (it says
            # "cancelling"): two signals sent at once may arrive as one.

            def first_handled():
                with open(err_path, "rb") as f:
                    return proc.poll() is not None or b"cancelling" in f.read()
            oracle.wait_for(first_handled, 10, 0.0005, "ferry to say it is cancelling",
                            lambda: open(err_path, "rb").read().decode("utf-8", "replace"))
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
            out, _ = proc.communicate(timeout=oracle.scaled(30))
            self.assertLess(time.monotonic() - sent, oracle.scaled(2), "the second SIGINT did not abort at once")
            if proc.returncode == 130:
                break
            self.assertEqual(proc.returncode, 1, "neither aborted nor cancelled")
            self.assertEqual(json.loads(out)["Result"]["ErrorCode"], "OperationCanceled")
        else:
            self.fail("five times, ferry ended cancelled (1), not aborted (130), after a second SIGINT")
        self.assertEqual(proc.returncode, 130)
        present, _ = self.check_destination("after two SIGINTs")
        self.assertLess(present, self.stats["files"])
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertTreesEqual(self.src, self.dst)
        self.assertEqual(self.check_destination("after the next run")[1], [])

    def remaining_bytes(self):
        if not os.path.exists(self.dst):
            return self.stats["bytes"]
        src_walk = oracle.walk(self.src)
        return sum(src_walk[rel].st_size for rel in oracle.differing_paths(self.src, self.dst)
                   if stat.S_ISREG(src_walk[rel].st_mode))

    def test_sigkill_at_random_moments(self):
        # Each run is killed once it has read a random part of what is left
        # (the first one while preparing), until little is left.
        seed = int(time.time() * 1000) % 100_000
        rng = random.Random(seed)
        landed = 0
        history = []  # (bytes read when killed, files present after, temp names)
        for n in range(6):
            remaining = self.remaining_bytes()
            if remaining < MiB:
                break
            target = 0 if n == 0 else int(rng.uniform(0.1, 0.9) * remaining)
            context = f"seed {seed}, kill #{n + 1} after {target} bytes read ({history})"
            proc = self.start(rate=8 * MiB)
            read = self.wait_read(proc, target, interval=0.005)
            if proc.poll() is None:
                proc.kill()
                landed += 1
            proc.communicate(timeout=oracle.scaled(30))
            present, temps = self.check_destination(context)
            history.append((read, present, len(temps)))
        self.assertGreaterEqual(landed, 3, f"seed {seed}: only {landed} kills hit a running "
                                           f"transfer: {history}")
        # The next run transfers exactly what is missing or different.
        differing = oracle.differing_paths(self.src, self.dst) if os.path.exists(self.dst) \
            else set(oracle.walk(self.src))
        differing.discard(b"")
        src_walk = oracle.walk(self.src)
        log = os.path.join(self.base, "final.jsonl")
        r = sync(self.src, self.dst, "--log-level", "TRANSFER", "--log-file", log)
        self.assertSuccess(r)
        transferred = {x["path"] for x in oracle.read_log(log)
                       if x.get("event") == "Transferred"} - {"/"}
        self.assertEqual(transferred, {oracle.display_path(rel) for rel in differing},
                         f"seed {seed}: {history}")
        self.assertEqual(r["FilesTransferred"],
                         sum(1 for rel in differing if not stat.S_ISDIR(src_walk[rel].st_mode)))
        self.assertTreesEqual(self.src, self.dst)
        self.assertEqual(self.check_destination("after the final run")[1], [])


if __name__ == "__main__":
    unittest.main()
