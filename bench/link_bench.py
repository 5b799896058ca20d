#!/usr/bin/env python3
"""ferry from agent to agent over the link, beside rsync -a over ssh (issue 12).

    sudo python3 bench/link_bench.py [--ferry build/ferry] [--runs 3]
        [--scale F | --scale TREE=F,...] [--scenarios loopback,wan,...]
        [--root /dev/shm/ferry-link-bench] [--json-out FILE] [--smoke]

Two hosts in network namespaces (bench/netlab.py): ferrybenchA holds the
sender agent and the sources, ferrybenchB the receiver agent
(`ferry agent --link-listen 10.77.0.2:7447`), sshd and the destinations;
the ferry server runs in the root namespace on a bridge of its own
(10.77.9.1), so that its traffic (the agents' channel, the API calls that
start and poll executions) never crosses the link being measured and the
third column, `ferry sync` on one machine, runs beside it. Every path is on
ROOT (a tmpfs by default: the link is measured, not a disk).

Scenarios (the link between A and B):
  loopback   a direct veth pair, nothing shaped; trees large, small; delta
  wan        200 Mbit/s, 50 ms round trip, 0.5% loss each way; tree wan; delta;
             and (informational, 1 round) tree wansmall
  wan-proxy  as wan, the delay from COMPONENTS.md's TCP proxy instead of the
             packet delay line (informational: TCP ends at the proxy, so the
             loss never meets the round trip); tree wan; 1 round
  text100    100 Mbit/s; tree text (compressible); rsync -a and rsync -az
  wan-cubic  as wan with TCP CUBIC instead of the machine's default congestion
             control (informational; allows cubic in
             net.ipv4.tcp_allowed_congestion_control for the run and restores
             it); tree cubic; 1 round
Trees (sizes at --scale 1): large (gen_tree.py large: 8 x 256 MiB), small
(gen_tree.py small: 50,000 files, 415 MiB), wan (8 x 64 MiB), cubic
(8 x 4 MiB), wansmall (gen_tree.py small at 0.004: 200 files, 1.7 MiB),
text (512 MiB of log, access-log and CSV lines in files of
1-32 MiB; ferry's zstd -1 blocks make it about 4:1), delta (one 1 GiB random file).

Tools, each run timed wall-clock, the order rotated every round:
  ferry        a task from a LOCAL location the sender agent serves to one the
               receiver serves, Options VerifyMode=NONE (so that it compares
               with rsync, which verifies nothing after the copy; one more run
               of large and small with the default VerifyMode is reported);
               timed from StartTaskExecution until DescribeTaskExecution says
               SUCCESS (polled every 0.1 s); BytesCompressed is what it sent
  rsync        ip netns exec ferrybenchA rsync -a --stats -e "ssh ..." SRC/
               root@10.77.0.2:DST/  (sshd of Debian's openssh-server in B, a
               throwaway host key and client key; ssh's default cipher)
  rsync-z      the same with -z (text100 only: rsync's own compression)
  ferry-local  ferry sync SRC DST --verify-mode NONE --no-progress in the root
               namespace (loopback only): the same copy with no link
Every destination starts empty (removed outside the timing); round 1 of every
tool is checked with rsync -a --checksum --dry-run (run_bench.py's check).
Delta: the delta file is copied to each tool's destination (cp -a, untimed),
1 MiB in its middle is rewritten in the source (at no block boundary), then
each tool brings the destination up to date: ferry's delta transfer, rsync's
(its default over the network); bytes sent are ferry's BytesCompressed and
rsync's "Total bytes sent", and the bytes on the wire are counted for both.

Wire bytes are the L2 bytes of the link's interface (A to B), as tbf counts
them; link busy = wire bytes / wall time / link rate. Rates are of the data as
read (the files' sizes) per wall second; GB is 10^9 bytes, Mbit 10^6 bits.

Targets (issue 12; not judged with --smoke): loopback large: ferry >= 1.0 GB/s
and >= 3 x rsync; loopback small: >= 2 x rsync; wan: ferry's link busy >= 80%;
text100: ferry's rate >= 2 x the link (200 Mbit/s). Delta: reported.

Before every timed run the script waits (30 s at a time, at most
--quiet-wait minutes) while `pgrep -f PATTERN` finds a build or a test run
(--busy-pattern; default: ninja, clang, the sanitized builds' binaries, ctest,
unittest); a run during which one ran is marked "disturbed". Everything it starts is stopped, and
the namespaces and the bridge deleted, at the end, on failure and on Ctrl-C.
Exit status: 0 when every run succeeded and checked and (without --smoke)
every target passed; 1 otherwise; 2 when a tool is missing.
"""

import argparse
import collections
import configparser
import datetime
import json
import multiprocessing
import os
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_tree  # noqa: E402
import netlab  # noqa: E402
import run_bench  # noqa: E402

KIB, MIB, GIB = 1024, 1 << 20, 1 << 30
GB, MBIT = 1e9, 1e6
LINK_PORT = 7447
SCENARIOS = ["loopback", "wan", "wan-proxy", "text100", "wan-cubic"]
# name -> (kind, gen_tree kind or base bytes, base gen_tree scale)
TREES = {
    "large": ("gen", "large", 1.0),
    "small": ("gen", "small", 1.0),
    "wan": ("gen", "large", 0.25),
    "cubic": ("gen", "large", 1 / 64),
    "wansmall": ("gen", "small", 0.004),
    "text": ("text", 512 * MIB, None),
    "delta": ("delta", 1 * GIB, None),
}
SMOKE_SCALE = {"large": 1 / 256, "small": 0.002, "wan": 1 / 64, "cubic": 1 / 32,
               "wansmall": 0.1,
               "text": 1 / 64, "delta": 1 / 64}
SCENARIO = {
    "loopback": dict(shape=None, trees=["large", "small"],
                     tools=["ferry", "rsync", "ferry-local"], delta=True,
                     verify_runs=["large", "small"]),
    "wan": dict(shape=dict(rate_mbit=200, loss_pct=0.5, delay_ms=50, latency="tun"),
                trees=["wan"], tools=["ferry", "rsync"], delta=True,
                info_trees=["wansmall"]),
    "wan-proxy": dict(shape=dict(rate_mbit=200, loss_pct=0.5, delay_ms=50, latency="proxy"),
                      trees=["wan"], tools=["ferry", "rsync"], rounds=1),
    "text100": dict(shape=dict(rate_mbit=100), trees=["text"],
                    tools=["ferry", "rsync", "rsync-z"]),
    "wan-cubic": dict(shape=dict(rate_mbit=200, loss_pct=0.5, delay_ms=50, latency="tun"),
                      cc="cubic", trees=["cubic"], tools=["ferry", "rsync"], rounds=1),
}
LABELS = {"ferry": "ferry (link)", "ferry-verify": "ferry (link, default verify)",
          "rsync": "rsync -a over ssh", "rsync-z": "rsync -az over ssh",
          "ferry-local": "ferry sync (local)"}
DELTA_CHANGE = 1 * MIB
RUN_TIMEOUT = 3600


def log(msg=""):
    print(msg, flush=True)


# ------------------------------------------------------------ the trees


WORDS = ("request accepted queued retry timeout cache miss hit upstream session user "
         "order invoice payment shipment inventory token refresh login logout upload "
         "download sync replica shard lease commit rollback snapshot compaction index "
         "query worker scheduler heartbeat backoff throttle quota bucket object").split()
LEVELS = ["INFO"] * 12 + ["DEBUG"] * 5 + ["WARN"] * 2 + ["ERROR"]
PATHS = ["/api/v1/items", "/api/v1/orders", "/api/v2/users", "/static/app.js",
         "/static/style.css", "/health", "/api/v1/search", "/login", "/api/v2/reports"]
AGENTS = ['Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
          'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
          'Chrome/126.0 Safari/537.36', 'curl/7.88.1', 'aws-cli/2.9.19 Python/3.11.2',
          'Go-http-client/1.1']
METHODS = ("GET",) * 6 + ("POST", "PUT")
COUNTRIES = "DE FR US GB JP BR IN NL SE PL ES IT CA AU".split()


def _text_lines(kind, r, t, size):
    """Lines of one file, about `size` bytes, as bytes."""
    out = []
    n = 0
    rr, rb, ch = r.randrange, r.getrandbits, r.choice
    while n < size:
        t += rr(1, 40_000)  # microseconds
        sec, us = divmod(t, 1_000_000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        if kind == "app":
            line = (f"{stamp}.{us:06d}Z {ch(LEVELS):5} [worker-{rr(32):02d}] "
                    f"ferry.{ch(WORDS)}.{ch(WORDS)} - {ch(WORDS)} {ch(WORDS)} {ch(WORDS)} "
                    f"id={rb(64):016x} took={rr(1, 5000) / 10:.1f}ms\n")
        elif kind == "access":
            line = (f"10.{rr(4)}.{rr(256)}.{rr(256)} - - [{stamp}Z] \"{ch(METHODS)} "
                    f"{ch(PATHS)}/{rr(100000)} HTTP/1.1\" {ch((200,) * 20 + (304, 404, 500))} "
                    f"{rr(200, 60000)} \"-\" \"{ch(AGENTS)}\" {rr(1, 900)}\n")
        else:
            line = (f"{rb(40)},{stamp},user{rr(5000):04d},{rr(1, 100000) / 100:.2f},"
                    f"{ch(COUNTRIES)},SKU-{rr(20000):05d},{rr(1, 12)}\n")
        out.append(line)
        n += len(line)
    return "".join(out).encode(), t


def _write_text_file(task):
    root, rel, kind, size, seed = task
    r = random.Random(f"ferry-link-bench/text/{seed}/{rel}")
    t = (1_700_000_000 + r.randrange(10_000_000)) * 1_000_000
    with open(os.path.join(root, rel), "wb") as f:
        left = size
        while left > 0:
            data, t = _text_lines(kind, r, t, min(left, 4 * MIB))
            f.write(data)
            left -= len(data)
    return os.path.getsize(os.path.join(root, rel))


def generate_text(out, total, seed):
    """Compressible files (log, access-log and CSV lines) of 1-32 MiB (at
    least 64 KiB, for small totals) in three folders; returns (files, bytes)."""
    r = random.Random(f"ferry-link-bench/text-layout/{seed}")
    kinds = [("logs/app", "app"), ("logs/access", "access"), ("exports/csv", "csv")]
    for d, _ in kinds:
        os.makedirs(os.path.join(out, d))
    tasks = []
    left = total
    i = 0
    top = max(64 * KIB, min(32 * MIB, total // 8))
    while left > 0:
        size = min(left, r.randint(max(64 * KIB, top // 32), top))
        d, kind = kinds[i % 3]
        tasks.append((out, f"{d}/{kind}-{i:04d}.{'csv' if kind == 'csv' else 'log'}", kind,
                      size, seed))
        left -= size
        i += 1
    pool = multiprocessing.get_context("fork").Pool(len(os.sched_getaffinity(0)),
                                                    initializer=_default_signals)
    try:
        sizes = pool.map(_write_text_file, tasks, chunksize=1)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return len(tasks), sum(sizes)


def _default_signals():
    """In a generator's worker: SIGTERM and SIGHUP end it as they would
    any process (not this script's handler, meant for its main process)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's


def generate_delta(base, size, seed):
    """base/old/big.bin (random) and base/src/big.bin: the same with
    DELTA_CHANGE bytes rewritten in its middle, at no block boundary, and an
    mtime an hour later."""
    old, src = os.path.join(base, "old"), os.path.join(base, "src")
    os.makedirs(old)
    os.makedirs(src)
    r = gen_tree.rng("link-delta", seed, 0)
    dfd = os.open(old, os.O_RDONLY | os.O_DIRECTORY)
    try:
        gen_tree.write_file(dfd, "big.bin", size, r, 0o644, gen_tree.draw_time(r))
    finally:
        os.close(dfd)
    shutil.copy2(os.path.join(old, "big.bin"), os.path.join(src, "big.bin"))
    change = min(DELTA_CHANGE, size // 4)
    at = size // 2 + 4321
    with open(os.path.join(src, "big.bin"), "r+b") as f:
        f.seek(at)
        f.write(random.Random(f"link-delta-change/{seed}").randbytes(change))
    st = os.stat(os.path.join(old, "big.bin"))
    os.utime(os.path.join(src, "big.bin"), ns=(st.st_atime_ns, st.st_mtime_ns + 3600 * 10**9))
    return {"files": 1, "dirs": 0, "bytes": size, "changed_bytes": change, "changed_at": at}


def tree_bytes(path):
    files = size = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            files += 1
            size += os.lstat(os.path.join(dirpath, n)).st_size
    return files, size


def zlib_ratio(path, sample=8 * MIB):
    """Data as read / zlib level 1 of up to `sample` bytes of each file kind:
    how compressible the text tree is (zstd -1 does about as well)."""
    import zlib
    raw = comp = 0
    for dirpath, _, names in os.walk(path):
        for n in sorted(names)[:2]:
            with open(os.path.join(dirpath, n), "rb") as f:
                data = f.read(sample)
            raw += len(data)
            comp += len(zlib.compress(data, 1))
    return raw / comp if comp else None


# --------------------------------------------------------------- helpers


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v), idle


def cpu_busy(before, after):
    total = after[0] - before[0]
    return (total - (after[1] - before[1])) / total if total else 0.0


BUSY_PATTERN = "ninja|clang|build-asan/|build-tsan/|build-debug/|ctest|unittest"
busy_pattern = BUSY_PATTERN


def proc_cpu(pid):
    """User + system CPU seconds of a process (all its threads) so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def building():
    """Processes that would disturb the timings: builds (ninja, clang) and
    test runs (the sanitized builds' binaries, ctest, unittest)."""
    p = subprocess.run(["pgrep", "-f", busy_pattern], capture_output=True, text=True)
    return [x for x in p.stdout.split() if int(x) != os.getpid()]


class Quiet:
    """Waits for no build to run before a timed run (30 s at a time)."""

    def __init__(self, max_wait_s, enabled):
        self.max_wait_s = max_wait_s
        self.enabled = enabled
        self.waited_s = 0.0
        self.gave_up = False

    def wait(self):
        if not self.enabled:
            return
        t0 = time.monotonic()
        while building():
            if time.monotonic() - t0 > self.max_wait_s:
                if not self.gave_up:
                    log("      (a build or test run is still on after "
                        f"{self.max_wait_s / 60:.0f} min: measuring anyway)")
                self.gave_up = True
                break
            log(f"      (a build or test run is on (pgrep -f '{busy_pattern}'): waiting 30 s)")
            time.sleep(30)
        self.waited_s += time.monotonic() - t0


def parse_rsync_stats(text):
    out = {}
    for key, name in (("Total bytes sent", "sent"), ("Total bytes received", "received"),
                      ("Literal data", "literal"), ("Matched data", "matched")):
        m = re.search(rf"^{key}: ([\d,]+)", text, re.M)
        if m:
            out[name] = int(m.group(1).replace(",", ""))
    return out


# ------------------------------------------------------------- ferry side


class FerryControl:
    """`ferry server` in the root namespace and the two agents."""

    def __init__(self, lab, ferry, work, logs, agent_args=()):
        self.agent_args = list(agent_args)
        self.lab = lab
        self.ferry = ferry
        self.work = work
        self.logs = logs
        self.tasks = {}
        self.locations = {}
        self.client = None

    def start(self):
        import boto3
        from botocore.config import Config
        sdir = os.path.join(self.work, "server")
        with socket.socket() as s:
            s.bind((netlab.CTL_ROOT, 0))
            self.port = s.getsockname()[1]
        self.url = f"https://{netlab.CTL_ROOT}:{self.port}"
        p = subprocess.run([self.ferry, "server", "init", "--data-dir", sdir, "--listen",
                            f"{netlab.CTL_ROOT}:{self.port}", "--name", netlab.CTL_ROOT],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"ferry server init failed: {p.stderr}")
        self.ca = os.path.join(sdir, "ca.pem")
        self.credentials = os.path.join(sdir, "credentials")
        cp = configparser.ConfigParser()
        cp.read(self.credentials)
        self.server_log = os.path.join(self.logs, "server.log")
        self.server = self.lab.spawn(None, [self.ferry, "server", "--data-dir", sdir],
                                     self.server_log)
        self.client = boto3.session.Session().client(
            "datasync", endpoint_url=self.url, region_name="ferry-local", verify=self.ca,
            aws_access_key_id=cp["default"]["aws_access_key_id"],
            aws_secret_access_key=cp["default"]["aws_secret_access_key"],
            config=Config(retries={"total_max_attempts": 3, "mode": "standard"},
                          connect_timeout=10, read_timeout=30))
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client.list_agents()
                break
            except Exception as e:  # noqa: BLE001 - not up yet
                if self.server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the ferry server did not start ({e}):\n"
                                       + netlab.tail(self.server_log))
                time.sleep(0.1)
        common = ["--server", self.url, "--ca-bundle", self.ca] + self.agent_args
        self.agent_logs = {"sender": os.path.join(self.logs, "agent-sender.log"),
                           "receiver": os.path.join(self.logs, "agent-receiver.log")}
        self.sender_dir = os.path.join(self.work, "agent-sender")
        self.receiver_dir = os.path.join(self.work, "agent-receiver")
        self.sender = self.lab.spawn(netlab.NS_A, [self.ferry, "agent", "--data-dir",
                                                   self.sender_dir] + common,
                                     self.agent_logs["sender"])
        self.receiver = self.lab.spawn(
            netlab.NS_B, [self.ferry, "agent", "--data-dir", self.receiver_dir] + common
            + ["--link-listen", f"{netlab.ADDR_B}:{LINK_PORT}"], self.agent_logs["receiver"])
        self.sender_arn = self.activate(self.sender, self.sender_dir, "sender")
        self.receiver_arn = self.activate(self.receiver, self.receiver_dir, "receiver")

    def activate(self, proc, data_dir, name):
        path = os.path.join(data_dir, "activation-key")
        deadline = time.monotonic() + 30
        key = None
        while not key:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"agent {name} gave no activation key:\n"
                                   + netlab.tail(self.agent_logs[name]))
            try:
                with open(path) as f:
                    k = f.read().strip()
                key = k if len(k) == 29 else None
            except OSError:
                pass
            time.sleep(0.1)
        arn = self.client.create_agent(ActivationKey=key, AgentName=name)["AgentArn"]
        while self.client.describe_agent(AgentArn=arn)["Status"] != "ONLINE":
            if time.monotonic() > deadline + 30:
                raise RuntimeError(f"agent {name} is not ONLINE:\n"
                                   + netlab.tail(self.agent_logs[name]))
            time.sleep(0.2)
        return arn

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_SHARED_CREDENTIALS_FILE"] = self.credentials
        env["AWS_CONFIG_FILE"] = os.devnull
        return env

    def location(self, path, agent_arn):
        key = (path, agent_arn)
        if key not in self.locations:
            os.makedirs(path, exist_ok=True)
            p = subprocess.run([self.ferry, "create-location-local", "--path", path,
                                "--agent-arns", agent_arn, "--endpoint-url", self.url,
                                "--ca-bundle", self.ca], capture_output=True, text=True,
                               env=self.env())
            if p.returncode != 0:
                raise RuntimeError(f"create-location-local {path}: {p.stderr}{p.stdout}")
            self.locations[key] = json.loads(p.stdout)["LocationArn"]
        return self.locations[key]

    def task(self, src, dst, verify):
        """A task from src (the sender's) to dst (the receiver's);
        verify=False: Options VerifyMode=NONE, True: the default options."""
        key = (src, dst, verify)
        if key not in self.tasks:
            kw = {} if verify else {"Options": {"VerifyMode": "NONE"}}
            self.tasks[key] = self.client.create_task(
                SourceLocationArn=self.location(src, self.sender_arn),
                DestinationLocationArn=self.location(dst, self.receiver_arn),
                Name=f"bench-{os.path.basename(os.path.dirname(src))}", **kw)["TaskArn"]
        return self.tasks[key]

    def run(self, task, timeout):
        """Starts an execution and polls it to its end: (wall s, describe)."""
        t0 = time.monotonic()
        arn = self.client.start_task_execution(TaskArn=task)["TaskExecutionArn"]
        while True:
            d = self.client.describe_task_execution(TaskExecutionArn=arn)
            if d["Status"] in ("SUCCESS", "ERROR"):
                return time.monotonic() - t0, d
            if time.monotonic() - t0 > timeout:
                try:
                    self.client.cancel_task_execution(TaskExecutionArn=arn)
                except Exception:  # noqa: BLE001
                    pass
                d["Status"] = "TIMEOUT"
                return time.monotonic() - t0, d
            time.sleep(0.1)

    def log_marks(self):
        return {k: os.path.getsize(v) if os.path.exists(v) else 0
                for k, v in list(self.agent_logs.items()) + [("server", self.server_log)]}

    def new_log_lines(self, marks, pattern=r"(?i)error|fail|retr|resend|reconnect|refus"
                      r"|mismatch|lost|warn"):
        """Lines the agents and the server logged since `marks` that look
        like trouble (the server's API lines answered 200 left out)."""
        out = []
        for name, path in list(self.agent_logs.items()) + [("server", self.server_log)]:
            try:
                with open(path, "rb") as f:
                    f.seek(marks.get(name, 0))
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            for line in text.splitlines():
                if re.search(pattern, line) and not re.search(r" 200 ", line):
                    out.append(f"{name}: {line[:400]}")
        return out


# ------------------------------------------------------------------ ssh


class Ssh:
    """sshd (Debian's openssh-server) in B on 10.77.0.2:22 with a throwaway
    host key; the client key in A's command line."""

    def __init__(self, lab, work, logs):
        self.lab = lab
        self.dir = os.path.join(work, "ssh")
        self.logs = logs
        self.made_run_sshd = False

    def start(self):
        os.makedirs(self.dir, mode=0o700)
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ferry-bench",
                            "-f", os.path.join(self.dir, name)], check=True)
        shutil.copy(os.path.join(self.dir, "client_key.pub"),
                    os.path.join(self.dir, "authorized_keys"))
        cfg = os.path.join(self.dir, "sshd_config")
        with open(cfg, "w") as f:
            f.write(f"""Port 22
ListenAddress {netlab.ADDR_B}
HostKey {self.dir}/host_key
PidFile {self.dir}/sshd.pid
AuthorizedKeysFile {self.dir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
UseDNS no
""")
        if not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755)
            self.made_run_sshd = True
        subprocess.run(["/usr/sbin/sshd", "-t", "-f", cfg], check=True)
        self.proc = self.lab.spawn(netlab.NS_B, ["/usr/sbin/sshd", "-D", "-e", "-f", cfg],
                                   os.path.join(self.logs, "sshd.log"))
        netlab.wait_port(netlab.NS_B, netlab.ADDR_B, 22, 10)
        self.ssh = ("ssh -F /dev/null -o StrictHostKeyChecking=no "
                    "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes "
                    f"-i {self.dir}/client_key -p 22")
        p = subprocess.run(netlab.nsexec(netlab.NS_A, self.ssh.split() + [
            "-v", f"root@{netlab.ADDR_B}", "true"]), capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"ssh into B failed: {p.stderr[-2000:]}")
        m = re.search(r"kex: client->server cipher: (\S+)", p.stderr)
        self.cipher = m.group(1) if m else "?"

    def stop(self):
        if self.made_run_sshd:
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass

    def rsync(self, src, dst, z=False):
        return netlab.nsexec(netlab.NS_A, ["rsync", "-a" + ("z" if z else ""), "--stats",
                                           "-e", self.ssh, src.rstrip("/") + "/",
                                           f"root@{netlab.ADDR_B}:{dst.rstrip('/')}/"])


# ----------------------------------------------------------------- bench


class Bench:
    def __init__(self, args):
        self.args = args
        self.ferry = os.path.abspath(args.ferry)
        self.root = os.path.abspath(args.root)
        self.logs = os.path.abspath(args.logs)
        self.scenarios = [s for s in SCENARIOS if s in args.scenarios.split(",")]
        self.default_rounds = 1 if args.smoke else args.runs
        self.scale = {t: (SMOKE_SCALE[t] if args.smoke else 1.0) for t in TREES}
        for item in filter(None, args.scale.split(",")):
            tree, sep, value = item.partition("=")
            if sep:
                self.scale[tree] = float(value)
            else:
                self.scale = {t: self.scale[t] * float(tree) for t in TREES}
        self.records = []
        self.trees = {}
        self.problems = []
        self.notes = []
        self.quiet = Quiet(args.quiet_wait * 60, not args.smoke and not args.no_wait)
        self.lab = None
        self.cc_restore = None

    # ------------------------------------------------------------ trees

    def tree_dir(self, tree):
        return os.path.join(self.root, "trees", tree)

    def make_tree(self, tree):
        if tree in self.trees:
            return self.trees[tree]
        base = self.tree_dir(tree)
        src = os.path.join(base, "src")
        kind, what, base_scale = TREES[tree]
        scale = self.scale[tree]
        t0 = time.monotonic()
        if kind == "gen":
            # gen_tree.py as a command: its worker pool then has nothing of
            # this process (signal handlers, threads) to trip over.
            subprocess.run([sys.executable, os.path.join(HERE, "gen_tree.py"), "--kind", what,
                            "--out", src, "--seed", str(self.args.seed), "--scale",
                            repr(base_scale * scale), "--quiet"], check=True)
            files, size = tree_bytes(src)
            dirs = sum(len(d) for _, d, _ in os.walk(src))
            info = {"files": files, "dirs": dirs, "bytes": size}
        elif kind == "text":
            os.makedirs(src)
            files, size = generate_text(src, max(256 * KIB, int(what * scale)), self.args.seed)
            info = {"files": files, "dirs": 5, "bytes": size, "zlib1_ratio": zlib_ratio(src)}
        else:
            info = generate_delta(base, max(16 * MIB, int(what * scale)), self.args.seed)
        info.update(scale=scale, src=src, generate_s=time.monotonic() - t0)
        self.trees[tree] = info
        extra = f", zlib -1 ratio {info['zlib1_ratio']:.1f}" if info.get("zlib1_ratio") else ""
        log(f"  tree {tree}: {info['files']:,} files, {info['bytes'] / MIB:,.1f} MiB "
            f"(scale {scale:g}{extra}; made in {info['generate_s']:.1f} s)")
        return info

    def drop_tree(self, tree):
        run_bench.remove(self.tree_dir(tree))

    # ------------------------------------------------------------- runs

    def dst(self, tree, tool):
        return os.path.join(self.tree_dir(tree), "dst-" + tool)

    def measure(self, fn):
        """Runs fn() between counter readings; returns (result, meta)."""
        self.quiet.wait()
        before_build = bool(building())
        w0, c0 = self.lab.wire_bytes(), cpu_times()
        l0 = self.lab.loss_counters()
        res = fn()
        w1, c1 = self.lab.wire_bytes(), cpu_times()
        l1 = self.lab.loss_counters()
        meta = {"wire_a2b": w1["a2b"] - w0["a2b"], "wire_b2a": w1["b2a"] - w0["b2a"],
                "cpu_busy": cpu_busy(c0, c1),
                "disturbed": before_build or bool(building()),
                "loadavg": os.getloadavg()[0]}
        if l1:
            meta["loss"] = {k: l1.get(k, 0) - l0.get(k, 0) for k in l1}
        return res, meta

    def one_run(self, scen, tree, tool, rnd, phase="copy"):
        info = self.trees[tree]
        src = info["src"]
        dst = self.dst(tree, tool)
        if phase == "copy":
            run_bench.remove(dst)
            os.makedirs(dst)
        else:  # delta: the old file in place, as it was
            run_bench.remove(dst)
            subprocess.run(["cp", "-a", os.path.join(self.tree_dir(tree), "old") + "/.", dst],
                           check=True)
        rec = {"scenario": scen, "tree": tree, "tool": tool, "round": rnd + 1, "phase": phase,
               "bytes": info["bytes"], "files": info["files"]}
        timeout = max(300, RUN_TIMEOUT)
        if tool.startswith("ferry") and tool != "ferry-local":
            task = self.fc.task(src, dst, verify=(tool == "ferry-verify"))
            marks = self.fc.log_marks()
            cpu0 = (proc_cpu(self.fc.sender.pid), proc_cpu(self.fc.receiver.pid))
            (wall, d), meta = self.measure(lambda: self.fc.run(task, timeout))
            cpu1 = (proc_cpu(self.fc.sender.pid), proc_cpu(self.fc.receiver.pid))
            if None not in cpu0 + cpu1:
                rec["sender_cpu_s"] = cpu1[0] - cpu0[0]
                rec["receiver_cpu_s"] = cpu1[1] - cpu0[1]
            rec.update(wall_s=wall, ok=d["Status"] == "SUCCESS", status=d["Status"])
            for k in ("BytesTransferred", "BytesWritten", "BytesCompressed", "FilesTransferred",
                      "FilesVerified", "EstimatedBytesToTransfer"):
                if k in d:
                    rec[k] = d[k]
            rec["sent"] = d.get("BytesCompressed")
            r = d.get("Result") or {}
            rec["result"] = {k: v for k, v in r.items() if k.endswith("Duration")
                             or k.startswith("Error") or k.endswith("Status")}
            rec["cmd"] = f"StartTaskExecution {task}"
            trouble = self.fc.new_log_lines(marks)
            if trouble:
                rec["log_lines"] = trouble[:40]
            if not rec["ok"]:
                rec["error"] = json.dumps(r)[:2000] + "\n" + "\n".join(trouble[-20:])
        else:
            if tool == "ferry-local":
                cmd = [self.ferry, "sync", src, dst, "--verify-mode", "NONE", "--no-progress"]
            else:
                cmd = self.ssh.rsync(src, dst, z=(tool == "rsync-z"))
            res, meta = self.measure(lambda: run_bench.run_timed(cmd, timeout=timeout))
            rec.update(wall_s=res["wall_s"], ok=res["rc"] == 0 and not res["timed_out"],
                       cmd=" ".join(shlex.quote(c) for c in cmd), client_cpu_s=res["cpu_s"])
            if tool.startswith("rsync"):
                st = parse_rsync_stats(res["stdout"])
                rec["rsync_stats"] = st
                rec["sent"] = st.get("sent")
            if not rec["ok"]:
                rec["error"] = (f"exit {res['rc']}{' (timed out)' if res['timed_out'] else ''}: "
                                + (res["stderr"] + res["stdout"])[-2000:])
        rec.update(meta)
        rec["rate_Bps"] = info["bytes"] / rec["wall_s"] if rec["ok"] else None
        if rec["ok"] and rnd == 0:
            diff = run_bench.check_tree(src, dst)
            rec["check"] = "ok" if not diff else "WRONG"
            if diff:
                rec["check_diff"] = diff[:20]
                self.problems.append(f"{scen} {tree} {LABELS[tool]}: destination differs from "
                                     f"the source ({len(diff)} lines), first: {diff[:5]}")
        if not rec["ok"]:
            self.problems.append(f"{scen} {tree} {phase} {LABELS[tool]} round {rnd + 1} "
                                 f"failed: {rec.get('error', '')[:1500]}")
        run_bench.remove(dst)
        self.records.append(rec)
        self.print_run(rec)
        return rec

    def link_rate(self):
        s = self.lab.shaping
        return s.get("rate_mbit") * MBIT / 8 if s.get("rate_mbit") else None

    def print_run(self, rec):
        rate = self.link_rate()
        parts = [f"    {rec['phase']:5} r{rec['round']} {LABELS[rec['tool']]:29}"]
        if rec["ok"]:
            parts.append(f"{rec['wall_s']:8.2f} s {fmt_rate(rec['rate_Bps'], not rate)}")
            if rate:
                parts.append(f"busy {rec['wire_a2b'] / rec['wall_s'] / rate * 100:5.1f}%")
            if rec.get("sent") is not None:
                parts.append(f"sent {fmt_bytes(rec['sent'])}")
            parts.append(f"wire {fmt_bytes(rec['wire_a2b'])}/{fmt_bytes(rec['wire_b2a'])}")
            parts.append(f"CPU {rec['cpu_busy'] * 100:3.0f}%")
            if rec.get("sender_cpu_s") is not None:
                parts.append(f"(agents {rec['sender_cpu_s']:.1f}+{rec['receiver_cpu_s']:.1f} s)")
            if rec.get("loss"):
                lo = rec["loss"]
                pk = lo.get("toB", 0)
                if pk:
                    parts.append(f"drop {lo.get('dropB', 0) / pk * 100:.2f}%")
            if rec.get("check"):
                parts.append("checked" if rec["check"] == "ok" else "WRONG DESTINATION")
            if rec["disturbed"]:
                parts.append("DISTURBED (a build ran)")
        else:
            parts.append(f"FAILED after {rec['wall_s']:.1f} s: {rec.get('error', '')[:600]}")
        log("  ".join(parts))
        for line in rec.get("log_lines", [])[:5]:
            log(f"        log: {line}")

    # -------------------------------------------------------- scenarios

    def scenario(self, scen):
        spec = SCENARIO[scen]
        rounds = min(spec.get("rounds", self.default_rounds), self.default_rounds)
        log(f"\n== {scen}")
        if spec.get("cc"):
            self.set_cc(spec["cc"])
        try:
            if spec["shape"]:
                self.lab.shape(**spec["shape"])
            else:
                self.lab.unshape()
            probe = self.lab.probe(1.0 if self.args.smoke else 4.0)
            cc = self.lab.congestion_control()[netlab.NS_A]
            log(f"  link: {describe_shape(spec['shape'])}; TCP {cc}; measured: round trip "
                f"{probe['rtt_ms']:.2f} ms, one TCP stream {probe['tcp_mbit']:,.0f} Mbit/s")
            self.links[scen] = {"shape": spec["shape"], "probe": probe, "cc": cc,
                                "rounds": rounds}
            for tree in spec["trees"]:
                self.make_tree(tree)
                for rnd in range(rounds):
                    for tool in run_bench.rotated(spec["tools"], rnd):
                        self.one_run(scen, tree, tool, rnd)
                if tree in spec.get("verify_runs", []):
                    self.one_run(scen, tree, "ferry-verify", 0)
                if tree not in self.tree_users_after(scen):
                    self.drop_tree(tree)
            for tree in spec.get("info_trees", []):  # informational: one round
                self.make_tree(tree)
                for tool in spec["tools"]:
                    self.one_run(scen, tree, tool, 0)
                if tree not in self.tree_users_after(scen):
                    self.drop_tree(tree)
            if spec.get("delta"):
                self.make_tree("delta")
                for rnd in range(rounds):
                    for tool in run_bench.rotated(["ferry", "rsync"], rnd):
                        self.one_run(scen, "delta", tool, rnd, phase="delta")
                if "delta" not in self.tree_users_after(scen):
                    self.drop_tree("delta")
        finally:
            if spec.get("cc"):
                self.set_cc(None)

    def tree_users_after(self, scen):
        later = self.scenarios[self.scenarios.index(scen) + 1:]
        used = set()
        for s in later:
            used.update(SCENARIO[s]["trees"] + SCENARIO[s].get("info_trees", []))
            if SCENARIO[s].get("delta"):
                used.add("delta")
        return used

    def set_cc(self, cc):
        """cc: a congestion control for A, B and R (allowed for the run if
        need be); None: the machine's default again."""
        path = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"
        if cc is None:
            self.lab.set_congestion_control(self.default_cc)
            if self.cc_restore is not None:
                with open(path, "w") as f:
                    f.write(self.cc_restore)
                self.cc_restore = None
            return
        with open(path) as f:
            allowed = f.read().strip()
        if cc not in allowed.split():
            self.cc_restore = allowed
            with open(path, "w") as f:
                f.write(f"{allowed} {cc}")
        self.lab.set_congestion_control(cc)

    # ---------------------------------------------------------- results

    def summary(self):
        """{(scenario, tree, phase, tool): stats over the successful runs}."""
        groups = collections.OrderedDict()
        for r in self.records:
            groups.setdefault((r["scenario"], r["tree"], r["phase"], r["tool"]), []).append(r)
        out = collections.OrderedDict()
        for key, recs in groups.items():
            ok = [r for r in recs if r["ok"] and r.get("check") != "WRONG"]
            s = {"runs": len(ok), "failed": len(recs) - len(ok),
                 "disturbed": sum(1 for r in recs if r.get("disturbed"))}
            if ok:
                link = self.links[key[0]]["shape"]
                rate = link["rate_mbit"] * MBIT / 8 if link and link.get("rate_mbit") else None
                walls = [r["wall_s"] for r in ok]
                s["median_s"] = statistics.median(walls)
                s["min_s"], s["max_s"] = min(walls), max(walls)
                s["bytes"] = ok[0]["bytes"]
                s["rate_Bps"] = s["bytes"] / s["median_s"]
                s["wire_a2b"] = statistics.median(r["wire_a2b"] for r in ok)
                s["wire_b2a"] = statistics.median(r["wire_b2a"] for r in ok)
                sent = [r["sent"] for r in ok if r.get("sent") is not None]
                s["sent"] = statistics.median(sent) if sent else None
                s["cpu_busy"] = statistics.median(r["cpu_busy"] for r in ok)
                if rate:
                    s["busy"] = statistics.median(r["wire_a2b"] / r["wall_s"] / rate for r in ok)
                s["check"] = next((r["check"] for r in recs if r.get("check")), None)
                for k in ("sender_cpu_s", "receiver_cpu_s", "client_cpu_s"):
                    v = [r[k] for r in ok if r.get(k) is not None]
                    if v:
                        s[k] = statistics.median(v)
                vd = [r["result"].get("VerifyDuration") for r in ok
                      if r.get("result", {}).get("VerifyDuration") is not None]
                if vd:
                    s["verify_ms"] = statistics.median(vd)
            out[key] = s
        return out

    def judge(self, summ):
        out = []

        def get(scen, tree, tool, phase="copy"):
            """The tool's figures over its successful runs (a failed run is a
            problem of its own, listed under problems)."""
            s = summ.get((scen, tree, phase, tool))
            return s if s and s["runs"] else None

        if "loopback" in self.scenarios:
            f, r = get("loopback", "large", "ferry"), get("loopback", "large", "rsync")
            out.append(verdict("loopback large: ferry >= 1.0 GB/s",
                               f and f["rate_Bps"] >= 1.0 * GB,
                               f and f"{f['rate_Bps'] / GB:.2f} GB/s"))
            out.append(ratio_verdict("loopback large: ferry >= 3 x rsync over ssh", f, r, 3))
            f, r = get("loopback", "small", "ferry"), get("loopback", "small", "rsync")
            out.append(ratio_verdict("loopback small: ferry >= 2 x rsync over ssh", f, r, 2))
        if "wan" in self.scenarios:
            f, r = get("wan", "wan", "ferry"), get("wan", "wan", "rsync")
            out.append(verdict("wan (200 Mbit/s, 50 ms, 0.5% loss): ferry's link busy >= 80%",
                               f and f["busy"] >= 0.8,
                               f and f"{f['busy'] * 100:.1f}% (rsync over ssh: "
                               + (f"{r['busy'] * 100:.1f}%)" if r else "failed)")))
        if "text100" in self.scenarios:
            f = get("text100", "text", "ferry")
            out.append(verdict("text100: ferry's rate >= 2 x 100 Mbit/s",
                               f and f["rate_Bps"] * 8 >= 200 * MBIT,
                               f and f"{f['rate_Bps'] * 8 / MBIT:.0f} Mbit/s = "
                               f"{f['rate_Bps'] * 8 / (100 * MBIT):.2f} x the link"))
        return out

    def print_summary(self, summ):
        log("\n== results (medians over the rounds)")
        last = None
        for (scen, tree, phase, tool), s in summ.items():
            if (scen, tree, phase) != last:
                last = (scen, tree, phase)
                t = self.trees.get(tree, {})
                log(f"\n  {scen} / {tree}{' (delta: 1 MiB changed)' if phase == 'delta' else ''}"
                    f": {t.get('files', 0):,} files, {t.get('bytes', 0) / MIB:,.1f} MiB")
                log(f"    {'tool':29} {'median s':>9} {'rate':>12} {'busy':>6} {'sent':>10} "
                    f"{'wire A>B':>10} {'wire B>A':>10} {'CPU':>4}  x rsync")
                ref = summ.get((scen, tree, phase, "rsync"))
            if not s["runs"]:
                log(f"    {LABELS[tool]:29} FAILED ({s['failed']} runs)")
                continue
            ratio = (f"{ref['median_s'] / s['median_s']:6.2f}" if ref and ref.get("runs")
                     else "     -")
            busy = f"{s['busy'] * 100:5.1f}%" if "busy" in s else "     -"
            sent = fmt_bytes(s["sent"]) if s.get("sent") is not None else "-"
            extra = []
            if s.get("sender_cpu_s") is not None:
                extra.append(f"agents' CPU {s['sender_cpu_s']:.1f} s + "
                             f"{s['receiver_cpu_s']:.1f} s")
            if s.get("verify_ms") and tool == "ferry-verify":
                extra.append(f"verify {s['verify_ms'] / 1000:.1f} s")
            if s["failed"]:
                extra.append(f"{s['failed']} failed")
            if s["disturbed"]:
                extra.append(f"{s['disturbed']} disturbed")
            if s.get("check") == "WRONG":
                extra.append("WRONG")
            gb = not (self.links[scen]["shape"] or {}).get("rate_mbit")
            log(f"    {LABELS[tool]:29} {s['median_s']:9.2f} {fmt_rate(s['rate_Bps'], gb):>12} "
                f"{busy:>6} {sent:>10} {fmt_bytes(s['wire_a2b']):>10} "
                f"{fmt_bytes(s['wire_b2a']):>10} {s['cpu_busy'] * 100:3.0f}%  {ratio}"
                + (f"  ({', '.join(extra)})" if extra else ""))

    # -------------------------------------------------------------- run

    def run(self):
        started = datetime.datetime.now(datetime.timezone.utc)
        t_all = time.monotonic()
        run_bench.prepare_root(self.root)
        os.makedirs(self.logs, exist_ok=True)
        for name in os.listdir(self.logs):
            if name.endswith(".log"):
                os.remove(os.path.join(self.logs, name))
        machine = run_bench.machine_info(self.root)
        versions = {"ferry": run_bench.tool_version([self.ferry, "--version"]),
                    "rsync": run_bench.tool_version(["rsync", "--version"]),
                    "ssh": run_bench.tool_version(["ssh", "-V"]),
                    "kernel": os.uname().release}
        argv = run_bench.command_line()
        log(f"ferry link benchmark {'SMOKE RUN ' if self.args.smoke else ''}"
            f"{started:%Y-%m-%d %H:%M:%S} UTC")
        log(f"  command: python3 {argv}")
        log(f"  machine: {machine['cpu_model']}, {machine['nproc']} CPUs, "
            f"{machine['memory_gib']} GiB; {machine['os']}; kernel {versions['kernel']}")
        log(f"  root:    {self.root} ({machine['root_fs']}); logs in {self.logs}")
        log(f"  ferry:   {versions['ferry']} ({self.ferry}); {versions['rsync']}; "
            f"{versions['ssh']}")
        la = machine["loadavg_start"]
        log(f"  load:    {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; rounds {self.default_rounds}; "
            f"scenarios {', '.join(self.scenarios)}")
        self.links = {}
        interrupted = False
        self.lab = netlab.Lab(self.logs, log=log)
        self.ssh = Ssh(self.lab, self.root, self.logs)
        try:
            self.lab.up()
            self.default_cc = self.lab.congestion_control()[netlab.NS_A]
            self.fc = FerryControl(self.lab, self.ferry, self.root, self.logs,
                                   shlex.split(self.args.agent_args))
            self.fc.start()
            self.ssh.start()
            log(f"  hosts:   sender agent in {netlab.NS_A}, receiver agent "
                f"({netlab.ADDR_B}:{LINK_PORT}) and sshd in {netlab.NS_B}, server on "
                f"{self.fc.url}; ssh cipher {self.ssh.cipher}; TCP {self.default_cc}")
            for scen in self.scenarios:
                self.scenario(scen)
        except KeyboardInterrupt:
            interrupted = True
            self.problems.append("interrupted")
        except Exception as e:  # noqa: BLE001 - reported, then everything is torn down
            import traceback
            self.problems.append(f"the run stopped: {e}\n{traceback.format_exc()}")
            log(f"\nthe run stopped: {e}")
        finally:
            for name in ("sender", "receiver"):
                path = os.path.join(self.logs, f"agent-{name}.log")
                if os.path.exists(path) and self.problems:
                    log(f"\n  last lines of agent-{name}.log:\n    "
                        + netlab.tail(path, 15).replace("\n", "\n    "))
            try:
                if self.cc_restore is not None:
                    self.set_cc(None)
            except Exception:  # noqa: BLE001
                pass
            self.lab.down()
            self.ssh.stop()
            run_bench.remove(self.root)
            for name in sorted(os.listdir(self.logs)):  # a sanitized ferry's reports
                text = netlab.tail(os.path.join(self.logs, name), 10**6)
                m = re.search(r"ERROR: (Address|Leak|Thread)Sanitizer|runtime error:", text)
                if m:
                    self.problems.append(f"{name} holds a sanitizer report: "
                                         f"{text[m.start():m.start() + 1500]}")
        summ = self.summary()
        self.print_summary(summ)
        verdicts = [] if self.args.smoke else self.judge(summ)
        log("\n== targets")
        if self.args.smoke:
            log("  not judged in a smoke run (tiny trees, 1 round)")
        for name, v, detail in verdicts:
            log(f"  {v:4} {name}: {detail}")
        if self.problems:
            log("\n== problems")
            for p in self.problems:
                log(f"  {p}")
        total = time.monotonic() - t_all
        log(f"\ntotal {total:.0f} s; waited {self.quiet.waited_s:.0f} s for builds"
            f"{' (gave up waiting at least once)' if self.quiet.gave_up else ''}; "
            f"load at the end {os.getloadavg()[0]:.2f}")
        if self.args.json_out:
            with open(self.args.json_out, "w") as f:
                json.dump({"started_utc": started.isoformat(), "command": f"python3 {argv}",
                           "smoke": self.args.smoke, "machine": machine, "versions": versions,
                           "ssh_cipher": getattr(self.ssh, "cipher", None),
                           "links": self.links, "trees": self.trees, "runs": self.records,
                           "summary": [dict(zip(("scenario", "tree", "phase", "tool"), k), **v)
                                       for k, v in summ.items()],
                           "targets": [{"target": n, "verdict": v, "detail": d}
                                       for n, v, d in verdicts],
                           "problems": self.problems, "total_s": total,
                           "waited_for_builds_s": self.quiet.waited_s}, f, indent=1,
                          default=str)
            log(f"measurements written to {self.args.json_out}")
        failed = interrupted or self.problems or any(v == "FAIL" for _, v, _ in verdicts)
        return 1 if failed else 0


def verdict(name, ok, detail):
    if detail is None or detail is False:
        return (name, "FAIL", "ferry failed")
    return (name, "PASS" if ok else "FAIL", detail)


def ratio_verdict(name, f, r, k):
    if not f:
        return (name, "FAIL", "ferry failed")
    if not r:
        return (name, "N/A", "rsync over ssh failed")
    x = r["median_s"] / f["median_s"]
    return (name, "PASS" if x >= k else "FAIL",
            f"ferry {f['median_s']:.2f} s ({fmt_rate(f['rate_Bps'], True).strip()}) vs rsync "
            f"{r['median_s']:.2f} s ({fmt_rate(r['rate_Bps'], True).strip()}): {x:.2f} x")


def describe_shape(shape):
    if not shape:
        return "direct veth, not shaped"
    parts = [f"{shape['rate_mbit']} Mbit/s (tbf) each way"]
    if shape.get("delay_ms"):
        how = "delay line" if shape.get("latency") == "tun" else "TCP proxy"
        parts.append(f"{shape['delay_ms']:g} ms round trip ({how})")
    if shape.get("loss_pct"):
        parts.append(f"{shape['loss_pct']:g}% loss each way (nftables)")
    return ", ".join(parts)


def fmt_rate(bps, gb=False):
    """GB/s on the unshaped link (gb), Mbit/s on a shaped one."""
    if bps is None:
        return "-"
    if gb:
        return f"{bps / GB:6.3f} GB/s"
    return f"{bps * 8 / MBIT:6.0f} Mbit/s"


def fmt_bytes(n):
    if n is None:
        return "-"
    if n >= GB:
        return f"{n / GB:.2f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.0f} kB"


def missing_tools():
    need = {"ip": "iproute2", "tc": "iproute2", "nft": "nftables", "rsync": "rsync",
            "ssh": "openssh-client", "ssh-keygen": "openssh-client", "pgrep": "procps"}
    missing = sorted({pkg for exe, pkg in need.items() if not shutil.which(exe)})
    if not os.access("/usr/sbin/sshd", os.X_OK):
        missing.append("openssh-server")
    return missing


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--ferry", default=os.path.join(REPO, "build", "ferry"),
                   help="the ferry binary (default build/ferry: scripts/build.sh release)")
    p.add_argument("--runs", type=int, default=3, help="rounds per scenario (default 3; "
                   "wan-proxy and wan-cubic run once)")
    p.add_argument("--scale", default="", help="F (every tree) and/or TREE=F,... "
                   f"for trees {', '.join(TREES)}")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma-separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--root", default="/dev/shm/ferry-link-bench",
                   help="work directory (tmpfs by default), removed after")
    p.add_argument("--logs", default="/tmp/ferry-link-bench-logs",
                   help="where the server, agent and sshd logs are kept (default "
                   "/tmp/ferry-link-bench-logs)")
    p.add_argument("--agent-args", default="",
                   help="more flags for both agents, e.g. '--threads 4' (default: none)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json-out", help="every measurement as JSON")
    p.add_argument("--quiet-wait", type=float, default=30,
                   help="minutes to wait at most for builds to end before a run (default 30)")
    p.add_argument("--no-wait", action="store_true", help="do not wait for builds to end")
    p.add_argument("--busy-pattern", default=BUSY_PATTERN,
                   help=f"pgrep -f pattern of what to wait for (default {BUSY_PATTERN!r})")
    p.add_argument("--smoke", action="store_true",
                   help="tiny trees, 1 round, no verdicts: checks that the script works")
    args = p.parse_args(argv)
    bad = [s for s in args.scenarios.split(",") if s not in SCENARIOS]
    if bad:
        p.error(f"--scenarios: unknown {bad}")
    if args.runs < 1:
        p.error("--runs must be at least 1")
    try:
        for item in filter(None, args.scale.split(",")):
            tree, sep, value = item.partition("=")
            if (sep and tree not in TREES) or not float(value if sep else tree) > 0:
                raise ValueError(item)
    except ValueError as e:
        p.error(f"--scale: {e}: give F or TREE=F with TREE one of {', '.join(TREES)}")
    if os.geteuid() != 0:
        sys.exit("link_bench: run as root (it makes network namespaces)")
    missing = missing_tools()
    if missing:
        print(f"link_bench: missing: {', '.join(missing)}\n  install with: "
              f"apt-get install -y --no-install-recommends {' '.join(missing)}", file=sys.stderr)
        return 2
    try:
        import boto3  # noqa: F401
    except ImportError:
        print(f"link_bench: boto3 is missing for {sys.executable} (pip install boto3, or "
              "apt-get install python3-boto3)", file=sys.stderr)
        return 2
    if not os.access(args.ferry, os.X_OK):
        p.error(f"--ferry: {args.ferry} is not an executable (scripts/build.sh release)")
    global busy_pattern
    busy_pattern = args.busy_pattern
    bench = Bench(args)

    main_pid = os.getpid()

    def on_term(signum, frame):
        if os.getpid() != main_pid:  # a tree generator's worker, which its pool ends
            os._exit(128 + signum)
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    return bench.run()


if __name__ == "__main__":
    sys.exit(main())
