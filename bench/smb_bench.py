#!/usr/bin/env python3
"""ferry against rclone (its smb backend) and smbclient on a real Samba smbd.

Issue 10's measurement: the `small` and `large` trees of gen_tree.py written
to an SMB share (upload) and read back (download) by each tool, rounds
interleaved and the tool order rotated every round, and the no-change re-run
of ferry and rclone (smbclient cannot skip what is there). The server is
tests/support/samba.sh's smbd on 127.0.0.1, its share on --root (a RAM disk
by default: the protocol and the clients are measured, not a disk).

  ferry      FERRY_SMB_PASSWORD=... ferry sync SRC smb://USER@HOST:PORT/ferry/P
             --verify-mode NONE --no-progress    (and back)
  rclone     rclone copy SRC smbbench:ferry/P    (the remote from RCLONE_CONFIG_*
             variables, the password obscured)
  smbclient  smbclient //HOST/ferry -p PORT -A AUTHFILE -c
             'prompt OFF; recurse ON; ... mput * | mget *'

Round 1 of every upload is checked file by file on the share's folder (and
every download against the source), content only: SMB keeps no owner or mode.
Targets: ferry at least 1.5 x faster than the faster peer on `small` both
ways, at least as fast on `large`, and the no-change re-run of `small` under
2 s.

    python3 bench/smb_bench.py                       # small and large, 3 rounds
    python3 bench/smb_bench.py --trees small --scale small=0.2 --runs 1
    python3 bench/smb_bench.py --smoke               # seconds: the script works

Each run also reports the CPU the server used meanwhile (smbd and its
per-connection processes, or Azurite), and the summary its medians: a
server busy the whole run (CPU ~ wall, one process) is the bound.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import gen_tree  # noqa: E402
import run_bench  # noqa: E402

ALL_TREES = ["small", "large"]
ALL_TOOLS = ["ferry", "rclone", "smbclient"]
BASELINES = ["rclone", "smbclient"]
PHASES = ["upload", "download", "no-change"]
LABELS = {"ferry": "ferry", "rclone": "rclone copy", "smbclient": "smbclient"}
SAMBA_SH = os.path.join(REPO, "tests", "support", "samba.sh")
SMOKE_SCALE = {"small": 0.002, "large": 0.01}
TARGETS = {("small", "upload"): 1.5, ("small", "download"): 1.5,
           ("large", "upload"): 1.0, ("large", "download"): 1.0}
NO_CHANGE_LIMIT_S = 2.0


def log(msg=""):
    print(msg, flush=True)


def tree_cpu_s(pid):
    """CPU seconds used so far by process `pid` and everything beneath it:
    its own user and system time, what its reaped children used (cutime,
    cstime) and the same for each child still alive (smbd's per-connection
    processes; Azurite is one). None once it is gone."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # fields[0] is field 3 (state): utime..cstime are fields 14-17.
        return int(fields[1]), sum(int(x) for x in fields[11:15])

    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = stat(entry)
            if st:
                children.setdefault(st[0], []).append(int(entry))
    top = stat(pid)
    if top is None:
        return None
    total, todo = top[1], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        st = stat(p)
        if st:
            total += st[1]
            todo.extend(children.get(p, []))
    return total / tick


class Bench:
    """One server, its trees written and read by each tool in turn. A
    subclass (azure_bench.py) gives another server: start_server,
    stop_server, command, clear, written (where an upload can be checked)
    and the class attributes below."""

    TOOLS = ALL_TOOLS
    BASELINES = BASELINES
    LABELS = LABELS
    NO_CHANGE_TOOLS = ("ferry", "rclone")  # smbclient cannot skip what is there
    REMOTE = "smb"
    NO_CHANGE_LIMIT_S = NO_CHANGE_LIMIT_S  # small's no-change re-run

    def __init__(self, args):
        self.args = args
        self.root = os.path.abspath(args.root)
        self.ferry = os.path.abspath(args.ferry)
        self.tools = [t for t in self.TOOLS if t in args.tools.split(",")]
        self.trees = [t for t in ALL_TREES if t in args.trees.split(",")]
        self.rounds = 1 if args.smoke else args.runs
        self.scale = {t: (SMOKE_SCALE[t] if args.smoke else 1.0) for t in ALL_TREES}
        for item in filter(None, args.scale.split(",")):
            tree, _, value = item.partition("=")
            self.scale[tree] = float(value)
        self.records = []
        self.src = {}   # tree -> its local source folder
        self.info = {}  # tree -> files, folders, bytes, scale
        self.env = None

    # ------------------------------------------------------------ server

    def start_server(self):
        state = os.path.join(self.root, "samba")
        p = subprocess.run(["bash", SAMBA_SH, "start", state], capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"samba.sh start failed:\n{p.stderr}")
        self.state = state
        self.env = dict(line.split("=", 1) for line in p.stdout.split() if "=" in line)
        self.host, self.port = self.env["FERRY_TEST_SMB_HOST"].rsplit(":", 1)
        self.share = self.env["FERRY_TEST_SMB_SHARE"]
        self.user = self.env["FERRY_TEST_SMB_USER"]
        self.password = self.env["FERRY_TEST_SMB_PASSWORD"]
        self.share_dir = self.env["FERRY_TEST_SMB_DIR"]
        self.authfile = os.path.join(self.root, "smbclient.auth")
        with open(self.authfile, "w") as f:
            f.write(f"username = {self.user}\npassword = {self.password}\n")
        os.chmod(self.authfile, 0o600)
        obscured = subprocess.run(["rclone", "obscure", self.password], capture_output=True,
                                  text=True, check=True).stdout.strip()
        self.tool_env = dict(os.environ)
        self.tool_env.update({
            "FERRY_SMB_PASSWORD": self.password,
            "RCLONE_CONFIG_SMBBENCH_TYPE": "smb",
            "RCLONE_CONFIG_SMBBENCH_HOST": self.host,
            "RCLONE_CONFIG_SMBBENCH_PORT": self.port,
            "RCLONE_CONFIG_SMBBENCH_USER": self.user,
            "RCLONE_CONFIG_SMBBENCH_PASS": obscured,
        })

    def stop_server(self):
        if self.env is not None:
            subprocess.run(["bash", SAMBA_SH, "stop", self.state], capture_output=True)

    def server_pid(self):
        """The server's top process, whose CPU each run reports."""
        with open(os.path.join(self.state, "smbd.pid")) as f:
            return int(f.read().strip())

    def where(self):
        return f"smbd on {self.host}:{self.port}, share on {self.share_dir}"

    # ----------------------------------------------------------- commands

    def command(self, tool, phase, src, dst):
        """src/dst: a local path, or (self.REMOTE, prefix)."""
        def smb(x):
            return (f"smb://{self.user}@{self.host}:{self.port}/{self.share}/{x[1]}"
                    if isinstance(x, tuple) else x)

        if tool == "ferry":
            verify = "ONLY_FILES_TRANSFERRED" if phase == "no-change" else "NONE"
            return [self.ferry, "sync", smb(src), smb(dst), "--verify-mode", verify,
                    "--no-progress"]
        if tool == "rclone":
            def rc(x):
                return f"smbbench:{self.share}/{x[1]}" if isinstance(x, tuple) else x
            return ["rclone", "copy", rc(src), rc(dst)]
        if tool == "smbclient":
            base = ["smbclient", f"//{self.host}/{self.share}", "-p", self.port,
                    "-A", self.authfile, "-m", "SMB3"]
            if isinstance(dst, tuple):  # upload
                return base + ["-c", f'prompt OFF; recurse ON; mkdir "{dst[1]}"; cd "{dst[1]}"; '
                                     f'lcd "{src}"; mput *']
            return base + ["-c", f'prompt OFF; recurse ON; cd "{src[1]}"; lcd "{dst}"; mget *']
        raise ValueError(tool)

    def one_run(self, tree, phase, tool, rnd, src, dst):
        cmd = self.command(tool, phase, src, dst)
        before = tree_cpu_s(self.server_pid())
        res = run_bench.run_timed(cmd, env=self.tool_env)
        after = tree_cpu_s(self.server_pid())
        server_cpu = after - before if before is not None and after is not None else None
        check = diff = None
        if res["rc"] == 0 and rnd == 0:
            there = dst if not isinstance(dst, tuple) else self.written(dst[1])
            diff = run_bench.check_tree(self.src[tree], there, content_only=True)
            check = "wrong" if diff else "ok"
        rec = run_bench.record(tree, phase, tool, rnd + 1, cmd, res, check, diff)
        rec["bytes"], rec["files"] = self.info[tree]["bytes"], self.info[tree]["files"]
        rec["server_cpu_s"] = server_cpu
        self.records.append(rec)
        mark = "" if res["rc"] == 0 else "  FAILED"
        if check == "wrong":
            mark = f"  WRONG ({len(diff)} differences, first: {diff[:3]})"
        if res["rc"] != 0:
            mark += "\n      " + run_bench.describe_failure(rec)
        log(f"    {phase:9} round {rnd + 1}  {self.LABELS[tool]:12} {res['wall_s']:9.3f} s"
            f"  {res['maxrss_kib'] / 1024:7.1f} MB RSS  {res['cpu_s']:7.2f} s CPU"
            f"  server {server_cpu if server_cpu is not None else float('nan'):6.2f} s CPU"
            f"{'  checked' if check == 'ok' else ''}{mark}")

    def clear(self, prefix):
        run_bench.remove(os.path.join(self.share_dir, prefix))

    def written(self, prefix):
        """A local folder holding what an upload wrote to `prefix`."""
        return os.path.join(self.share_dir, prefix)

    def bench_tree(self, tree):
        tdir = os.path.join(self.root, tree)
        src = os.path.join(tdir, "src")
        down = os.path.join(tdir, "down")
        os.makedirs(tdir)
        files, dirs, size = gen_tree.generate(tree, src, seed=self.args.seed,
                                              scale=self.scale[tree])
        self.src[tree] = src
        self.info[tree] = {"files": files, "dirs": dirs, "bytes": size,
                           "scale": self.scale[tree]}
        log(f"\n== {tree}: {files:,} files, {dirs:,} folders, {size / 2**20:,.1f} MiB "
            f"(scale {self.scale[tree]:g})")
        for rnd in range(self.rounds):
            for tool in run_bench.rotated(self.tools, rnd):
                prefix = f"{tree}-up-{tool}-r{rnd + 1}"
                self.clear(prefix)
                self.one_run(tree, "upload", tool, rnd, src, (self.REMOTE, prefix))
                self.clear(prefix)
        # One synced copy (by ferry, untimed) to download from; each tool's
        # own for the no-change runs.
        synced = f"{tree}-synced"
        self.clear(synced)
        fill = run_bench.run_timed(self.command("ferry", "upload", src, (self.REMOTE, synced)),
                                   env=self.tool_env)
        if fill["rc"] != 0:
            raise SystemExit(f"could not fill {synced}: {fill['stderr']}")
        for rnd in range(self.rounds):
            for tool in run_bench.rotated(self.tools, rnd):
                run_bench.remove(down)
                os.makedirs(down)
                self.one_run(tree, "download", tool, rnd, (self.REMOTE, synced), down)
                run_bench.remove(down)
        nc_tools = [t for t in self.tools if t in self.NO_CHANGE_TOOLS]
        for tool in nc_tools:
            if tool != "ferry":
                mine = f"{tree}-synced-{tool}"
                self.clear(mine)
                run_bench.run_timed(self.command(tool, "upload", src, (self.REMOTE, mine)),
                                    env=self.tool_env)
        for rnd in range(self.rounds):
            for tool in run_bench.rotated(nc_tools, rnd):
                target = synced if tool == "ferry" else f"{tree}-synced-{tool}"
                self.one_run(tree, "no-change", tool, rnd, src, (self.REMOTE, target))
        for tool in nc_tools:
            self.clear(f"{tree}-synced-{tool}")
        self.clear(synced)
        run_bench.remove(tdir)

    # ------------------------------------------------------------ results

    def median_server_cpu(self, tree, phase, tool):
        cpus = sorted(r["server_cpu_s"] for r in self.records
                      if (r["tree"], r["phase"], r["tool"]) == (tree, phase, tool)
                      and r["rc"] == 0 and r.get("server_cpu_s") is not None)
        return statistics.median(cpus) if cpus else None

    def report(self):
        summary = run_bench.summarize(self)
        failed = False
        log(f"\n== ferry against the faster of {' and '.join(self.BASELINES)} "
            "(speedup = its median / ferry's)")
        for tree in self.trees:
            for phase in PHASES:
                tools = summary.get(tree, {}).get(phase, {})
                f = tools.get("ferry")
                if not f or not f["runs"]:
                    continue
                base = [(tools[t]["median_s"], t) for t in self.BASELINES
                        if t in tools and tools[t]["runs"] and not tools[t]["failed"]]
                line = f"  {tree:5} {phase:9}  ferry {f['median_s']:8.3f} s"
                limit = self.NO_CHANGE_LIMIT_S
                if phase == "no-change" and tree == "small" and limit:
                    ok = f["median_s"] < limit
                    line += f"  (target < {limit:g} s: {'PASS' if ok else 'FAIL'})"
                    failed |= not ok
                if base:
                    b, t = min(base)
                    speedup = b / f["median_s"]
                    line += f"  vs {self.LABELS[t]} {b:8.3f} s  speedup {speedup:.2f} x"
                    want = TARGETS.get((tree, phase))
                    if want:
                        ok = speedup >= want
                        line += f"  (target >= {want:g} x: {'PASS' if ok else 'FAIL'})"
                        failed |= not ok
                log(line)
                # The server's share: a run whose server was busy all along
                # (CPU ~ wall, one process) was bound by it, not the client.
                busy = []
                for tool in ["ferry"] + [t for t in self.BASELINES if t in tools]:
                    cpu = self.median_server_cpu(tree, phase, tool)
                    if cpu is not None:
                        busy.append(f"{self.LABELS[tool]} {cpu:.2f} s")
                if busy:
                    log(f"  {'':5} {'':9}  server CPU, medians: {', '.join(busy)}")
        if self.args.json_out:
            with open(self.args.json_out, "w") as out:
                json.dump({"records": self.records, "summary": summary, "trees": self.info},
                          out, indent=1)
        return failed


def main(argv=None, cls=None, doc=__doc__, root="/dev/shm/ferry-smb-bench"):
    cls = cls or Bench
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--trees", default=",".join(ALL_TREES))
    p.add_argument("--tools", default=",".join(cls.TOOLS))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--scale", default="", help="TREE=FACTOR,... (e.g. small=0.2)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--ferry", default=os.path.join(REPO, "build", "ferry"))
    p.add_argument("--root", default=root)
    p.add_argument("--json-out")
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    b = cls(args)
    if os.path.exists(b.root):
        shutil.rmtree(b.root)
    os.makedirs(b.root)
    os.chmod(b.root, 0o711)
    started = time.monotonic()
    try:
        b.start_server()
        log(f"{b.where()}; {b.rounds} round(s), tools {', '.join(b.tools)}")
        for tree in b.trees:
            b.bench_tree(tree)
        failed = b.report()
    finally:
        b.stop_server()
        shutil.rmtree(b.root, ignore_errors=True)
    log(f"\ntotal {time.monotonic() - started:.0f} s")
    # A smoke run shows the scripts work; its times mean nothing.
    return 0 if args.smoke or not failed else 1


if __name__ == "__main__":
    sys.exit(main())
