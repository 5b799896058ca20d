"""End-to-end: BytesPerSecond holds over time, not just on average.

24,000,000 bytes in 96 files at 2,000,000 bytes/s: about 12 s. While ferry
runs, the test samples the bytes it has written (/proc/PID/io wchar: the
destination writes, plus a few log lines) every 50 ms; afterwards it also
rebuilds the curve from the TRANSFER log's per-file timestamps. Every 10-second
window must average within 10% of the limit, and the whole transfer must take
within 10% of bytes / limit.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_rate_limit
"""

import bisect
import datetime
import json
import os
import subprocess
import time
import unittest

import oracle
from oracle import FerryTestCase

LIMIT = 2_000_000
FILES = 96
SIZE = 250_000
TOTAL = FILES * SIZE  # 12 s at the limit
WINDOW = 10.0
TOLERANCE = 0.10


def parse_iso(text):
    """'2026-01-02T03:04:05.123456789Z' -> seconds since the epoch (float)."""
    head, frac = text.rstrip("Z").split(".")
    t = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return t.timestamp() + int(frac) / 1e9


def window_rates(samples, window):
    """[(start, rate)] over every window of `window` seconds between two
    samples [(t, cumulative bytes)], taking for each start the first sample
    at least `window` later."""
    times = [t for t, _ in samples]
    out = []
    for i, (t0, b0) in enumerate(samples):
        j = bisect.bisect_left(times, t0 + window, lo=i + 1)
        if j >= len(samples):
            break
        t1, b1 = samples[j]
        out.append((t0, (b1 - b0) / (t1 - t0)))
    return out


class BytesPerSecond(FerryTestCase):
    def test_every_ten_second_window_within_ten_percent(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        log = os.path.join(base, "log.jsonl")
        oracle.make_flat_tree(src, FILES, SIZE, seed=5)
        cmd = oracle.ferry_cmd() + ["sync", src, dst, "--json", "--bytes-per-second",
                                    str(LIMIT), "--threads", "2", "--log-level", "TRANSFER",
                                    "--log-file", log]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        io_samples = []  # (monotonic seconds, bytes written so far)
        while proc.poll() is None:
            io = oracle.proc_io(proc.pid)
            now = time.monotonic()
            if io is not None and proc.poll() is None:
                io_samples.append((now, io["wchar"]))
            time.sleep(0.05)  # the sampling period of the measurement (not a wait)
            if now - started > oracle.scaled(40):
                proc.kill()
                break
        out, err = proc.communicate(timeout=oracle.scaled(30))
        wall = time.monotonic() - started
        self.assertEqual(proc.returncode, 0, oracle.describe_output("stderr", err))
        result = json.loads(out)
        self.assertEqual(result["Status"], "SUCCESS")
        self.assertEqual(result["Options"]["BytesPerSecond"], LIMIT)
        self.assertEqual(result["BytesWritten"], TOTAL)
        self.assertTreesEqual(src, dst)

        expected = TOTAL / LIMIT
        # The whole run (start-up and verification included) and the transfer phase.
        self.assertLess(abs(wall - expected), TOLERANCE * expected + 0.5,
                        f"took {wall:.2f} s for {TOTAL} bytes at {LIMIT} B/s")
        transfer_s = result["Result"]["TransferDuration"] / 1000
        self.assertLess(abs(transfer_s - expected), TOLERANCE * expected,
                        f"TransferDuration {transfer_s:.2f} s, expected {expected:.2f} s")

        # The curve of written bytes, while data was moving.
        if io_samples and io_samples[-1][1] >= TOTAL * 0.9:
            first = next(i for i, (_, b) in enumerate(io_samples) if b > 64 * 1024)
            last = next(i for i, (_, b) in enumerate(io_samples) if b >= io_samples[-1][1] - 64 * 1024)
            active = io_samples[max(0, first - 1):last + 1]
            rates = window_rates(active, WINDOW)
            self.assertGreater(len(rates), 10, f"too few windows: {active[:3]}...{active[-3:]}")
            bad = [(round(t - started, 2), round(rate)) for t, rate in rates
                   if abs(rate - LIMIT) > TOLERANCE * LIMIT]
            self.assertEqual(bad, [], "10-second windows off the limit (start s, B/s), "
                             "from /proc/PID/io")
        elif os.path.exists("/proc/self/io"):
            self.fail(f"could not sample /proc/{proc.pid}/io: {io_samples[-3:]}")

        # The same from the log: bytes of the files finished by each record.
        done = []
        total = 0
        for rec in oracle.read_log(log):
            if rec.get("event") == "Transferred" and rec.get("type") == "file":
                total += rec["bytes"]
                done.append((parse_iso(rec["time"]), total))
        self.assertEqual(total, TOTAL)
        self.assertEqual(len(done), FILES)
        rates = window_rates(done, WINDOW)
        self.assertGreater(len(rates), 10)
        # Finished files stand for the bytes moved, give or take one file in flight.
        slack = SIZE / WINDOW
        bad = [(round(t - done[0][0], 2), round(rate)) for t, rate in rates
               if abs(rate - LIMIT) > TOLERANCE * LIMIT + slack]
        self.assertEqual(bad, [], "10-second windows off the limit (s after the first file, "
                         "B/s), from the TRANSFER log")


if __name__ == "__main__":
    unittest.main()
