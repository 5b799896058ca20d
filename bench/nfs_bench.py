#!/usr/bin/env python3
"""ferry against libnfs's nfs-cp on a real NFS-Ganesha (NFSv3).

The `small` and `large` trees of gen_tree.py written to an NFS export
(upload) and read back (download) by each tool, rounds interleaved and the
tool order rotated every round, and ferry's no-change re-run. The server is
tests/support/nfs.sh's ganesha with rpcbind in a private network namespace
(only `lo`); this script starts it, enters the namespace the way the tests
do (tests/e2e/nfs.py: setns on the main thread before any thread or
process), so every tool it runs reaches the server; the export's folder is
under --root (a RAM disk by default: the protocol and the clients are
measured, not a disk).

  ferry   ferry sync SRC nfs://127.0.0.1/export/P --verify-mode NONE
          --no-progress     (and back)
  nfs-cp  libnfs's copier copies one file per process and makes no folders:
          one bash loop runs `nfs-cp SRC/F nfs://127.0.0.1/export/P/F` for
          every file (download: `mkdir -p` of the folders, then
          `nfs-cp nfs://.../F DST/F`). For the upload the folders are made
          first by an untimed ferry run of the tree's folders alone, so the
          nfs-cp times leave them out (in nfs-cp's favour).

rclone is not measured: it has no NFS backend (1.60 here; only through a
kernel mount, and this machine has no kernel NFS client). nfs-cp cannot
skip what is there, so only ferry has a no-change run.

Round 1 of every upload is checked on the export's folder (read on disk,
never changed behind ganesha's back: each upload goes to a folder of its
own, emptied afterwards through NFS by ferry) and every download against
the source: ferry's copies fully (rsync -a --checksum: content, modes,
owners, mtimes), nfs-cp's by content (it keeps no metadata).
Targets: ferry at least 1.5 x faster than nfs-cp on `small` both ways, at
least as fast on `large`, and the no-change re-run of `small` under 2 s.

    python3 bench/nfs_bench.py                       # small and large, 3 rounds
    python3 bench/nfs_bench.py --trees small --scale small=0.2 --runs 1
    python3 bench/nfs_bench.py --smoke               # seconds: the script works
"""

import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(REPO, "tests", "e2e"))

import gen_tree  # noqa: E402
import nfs  # noqa: E402  (tests/e2e/nfs.py: the server and its namespace)
import run_bench  # noqa: E402
from smb_bench import NO_CHANGE_LIMIT_S, PHASES, SMOKE_SCALE, TARGETS  # noqa: E402

ALL_TREES = ["small", "large"]
ALL_TOOLS = ["ferry", "nfs-cp"]
LABELS = {"ferry": "ferry", "nfs-cp": "nfs-cp loop"}
EXPORT_URL = "nfs://127.0.0.1/export"

# $1: the list of files (relative paths, one a line), $2: from, $3: to.
NFS_CP_LOOP = 'while IFS= read -r f; do nfs-cp "$2/$f" "$3/$f" || exit 1; done < "$1"'
# The same after making the folders listed in $4 under $3 (a download).
NFS_CP_DOWN = 'cd "$3" && xargs -d "\\n" -r mkdir -p < "$4" && cd / && ' + NFS_CP_LOOP


def log(msg=""):
    print(msg, flush=True)


def picked(known, wanted):
    """The names of `known` listed in the comma-separated `wanted`, in
    `known`'s order."""
    wanted = set(wanted.split(","))
    return [name for name in known if name in wanted]


class NfsBench:
    def __init__(self, args):
        self.args = args
        self.root = os.path.abspath(args.root)
        self.ferry = os.path.abspath(args.ferry)
        self.tools = picked(ALL_TOOLS, args.tools)
        self.trees = picked(ALL_TREES, args.trees)
        self.rounds = 1 if args.smoke else args.runs
        self.scale = dict(SMOKE_SCALE) if args.smoke else dict.fromkeys(ALL_TREES, 1.0)
        self.scale.update({tree: float(factor) for tree, _, factor in
                           (item.partition("=") for item in args.scale.split(",") if item)})
        self.records = []
        self.info = {}
        self.server = None

    # ------------------------------------------------------------ server

    def start_server(self):
        server = nfs.Server(os.path.join(self.root, "nfs"))
        try:
            server.start()
        except AssertionError as e:
            raise SystemExit(f"nfs.sh start failed: {e}") from None
        self.server = server
        nfs.enter_namespace(self.server.env["FERRY_TEST_NFS_NETNS"])
        self.export_dir = self.server.env["FERRY_TEST_NFS_DIR"]
        self.empty = os.path.join(self.root, "empty")
        os.makedirs(self.empty)

    def stop_server(self):
        if self.server is not None:
            self.server.stop()

    # ----------------------------------------------------------- commands

    def command(self, tool, phase, tree, src, dst):
        """src/dst: a local path, or ("nfs", folder of the export)."""
        def loc(x):
            return f"{EXPORT_URL}/{x[1]}" if isinstance(x, tuple) else x

        if tool == "ferry":
            verify = "ONLY_FILES_TRANSFERRED" if phase == "no-change" else "NONE"
            return [self.ferry, "sync", loc(src), loc(dst), "--verify-mode", verify,
                    "--no-progress"]
        if tool == "nfs-cp":
            t = self.info[tree]
            if phase == "upload":
                return ["bash", "-c", NFS_CP_LOOP, "nfs-cp-up", t["file_list"], src, loc(dst)]
            return ["bash", "-c", NFS_CP_DOWN, "nfs-cp-down", t["file_list"], loc(src), dst,
                    t["dir_list"]]
        raise ValueError(tool)

    def ferry_untimed(self, src, dst, *extra):
        res = run_bench.run_timed([self.ferry, "sync", src, dst, "--verify-mode", "NONE",
                                   "--no-progress", *extra])
        if res["rc"] != 0:
            raise SystemExit(f"ferry sync {src} {dst} failed:\n{res['stderr']}{res['stdout']}")

    def empty_out(self, folder):
        """Removes what a folder of the export holds, through NFS."""
        self.ferry_untimed(self.empty, f"{EXPORT_URL}/{folder}", "--preserve-deleted-files",
                           "REMOVE")

    def one_run(self, tree, phase, tool, rnd, src, dst):
        cmd = self.command(tool, phase, tree, src, dst)
        res = run_bench.run_timed(cmd)
        check = diff = None
        if res["rc"] == 0 and rnd == 0:
            there = os.path.join(self.export_dir, dst[1]) if isinstance(dst, tuple) else dst
            diff = run_bench.check_tree(self.info[tree]["src"], there,
                                        content_only=tool != "ferry")
            check = "wrong" if diff else "ok"
        rec = run_bench.record(tree, phase, tool, rnd + 1, cmd, res, check, diff)
        rec["bytes"], rec["files"] = self.info[tree]["bytes"], self.info[tree]["files"]
        self.records.append(rec)
        note = "  checked" if check == "ok" else ""
        if check == "wrong":
            note = f"  WRONG ({len(diff)} differences, first: {diff[:3]})"
        if res["rc"] != 0:
            note += "  FAILED\n      " + run_bench.describe_failure(rec)
        log(f"    {phase:9} round {rnd + 1}  {LABELS[tool]:12} {res['wall_s']:9.3f} s"
            f"  {res['maxrss_kib'] / 1024:7.1f} MB RSS  {res['cpu_s']:7.2f} s CPU{note}")

    # -------------------------------------------------------------- trees

    def make_tree(self, tree):
        tdir = os.path.join(self.root, tree)
        src = os.path.join(tdir, "src")
        skeleton = os.path.join(tdir, "folders")
        os.makedirs(tdir)
        files, dirs, size = gen_tree.generate(tree, src, seed=self.args.seed,
                                              scale=self.scale[tree])
        file_list, dir_list = os.path.join(tdir, "files.txt"), os.path.join(tdir, "dirs.txt")
        with open(file_list, "w") as fl, open(dir_list, "w") as dl:
            for d, subdirs, names in os.walk(src):
                subdirs.sort()
                rel = os.path.relpath(d, src)
                if rel != ".":
                    dl.write(rel + "\n")
                    os.makedirs(os.path.join(skeleton, rel))
                for name in sorted(names):
                    fl.write(os.path.normpath(os.path.join(rel, name)) + "\n")
        os.makedirs(skeleton, exist_ok=True)
        self.info[tree] = {"files": files, "dirs": dirs, "bytes": size,
                           "scale": self.scale[tree], "src": src, "folders": skeleton,
                           "file_list": file_list, "dir_list": dir_list, "dir": tdir}
        log(f"\n== {tree}: {files:,} files, {dirs:,} folders, {size / 2**20:,.1f} MiB "
            f"(scale {self.scale[tree]:g})")

    def bench_tree(self, tree):
        self.make_tree(tree)
        t = self.info[tree]
        for rnd in range(self.rounds):
            for tool in run_bench.rotated(self.tools, rnd):
                folder = f"{tree}-up-{tool}-r{rnd + 1}"
                if tool == "nfs-cp":  # it makes no folders (untimed)
                    self.ferry_untimed(t["folders"], f"{EXPORT_URL}/{folder}")
                self.one_run(tree, "upload", tool, rnd, t["src"], ("nfs", folder))
                self.empty_out(folder)
        # One synced copy (by ferry, untimed) to download from and to re-run
        # ferry against.
        synced = f"{tree}-synced"
        self.ferry_untimed(t["src"], f"{EXPORT_URL}/{synced}")
        down = os.path.join(t["dir"], "down")
        for rnd in range(self.rounds):
            for tool in run_bench.rotated(self.tools, rnd):
                run_bench.remove(down)
                os.makedirs(down)
                self.one_run(tree, "download", tool, rnd, ("nfs", synced), down)
                run_bench.remove(down)
        if "ferry" in self.tools:
            for rnd in range(self.rounds):
                self.one_run(tree, "no-change", "ferry", rnd, t["src"], ("nfs", synced))
        self.empty_out(synced)
        run_bench.remove(t["dir"])

    # ------------------------------------------------------------ results

    def broken(self):
        """Whether a run failed or a check found a difference."""
        return any(r["rc"] != 0 or r.get("check") == "wrong" for r in self.records)

    def judged(self, tree, phase, tools):
        """(the line for one tree and phase, whether a target failed)."""
        mine = tools["ferry"]["median_s"]
        text = f"  {tree:5} {phase:9}  ferry {mine:8.3f} s"
        verdicts = []
        if (tree, phase) == ("small", "no-change"):
            verdicts.append((mine < NO_CHANGE_LIMIT_S, f"target < {NO_CHANGE_LIMIT_S:g} s"))
        peer = tools.get("nfs-cp")
        if peer and peer["runs"] and not peer["failed"]:
            speedup = peer["median_s"] / mine
            text += f"  vs {LABELS['nfs-cp']} {peer['median_s']:8.3f} s  speedup {speedup:.2f} x"
            if (tree, phase) in TARGETS:
                want = TARGETS[(tree, phase)]
                verdicts.append((speedup >= want, f"target >= {want:g} x"))
        for ok, target in verdicts:
            text += f"  ({target}: {'PASS' if ok else 'FAIL'})"
        return text, not all(ok for ok, _ in verdicts)

    def report(self):
        summary = run_bench.summarize(self)
        failed = self.broken()
        log("\n== ferry against nfs-cp (speedup = nfs-cp's median / ferry's)")
        for tree, phase in ((t, p) for t in self.trees for p in PHASES):
            tools = summary.get(tree, {}).get(phase, {})
            if tools.get("ferry", {}).get("runs"):
                text, missed = self.judged(tree, phase, tools)
                log(text)
                failed |= missed
        if self.args.json_out:
            info = {tree: {k: v for k, v in i.items() if k in ("files", "dirs", "bytes", "scale")}
                    for tree, i in self.info.items()}
            with open(self.args.json_out, "w") as out:
                json.dump({"records": self.records, "summary": summary, "trees": info},
                          out, indent=1)
        return failed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trees", default=",".join(ALL_TREES), help="small,large")
    p.add_argument("--tools", default=",".join(ALL_TOOLS), help="ferry,nfs-cp")
    p.add_argument("--runs", type=int, default=3, help="rounds per phase (default 3)")
    p.add_argument("--scale", default="", help="TREE=FACTOR,... (e.g. small=0.2)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--ferry", default=os.path.join(REPO, "build", "ferry"))
    p.add_argument("--root", default="/dev/shm/ferry-nfs-bench",
                   help="scratch folder: trees and the export (removed at the end)")
    p.add_argument("--json-out", help="write the records and the summary here")
    p.add_argument("--smoke", action="store_true", help="tiny trees, one round: seconds")
    args = p.parse_args(argv)
    bench = NfsBench(args)
    if os.path.exists(bench.root):
        shutil.rmtree(bench.root)
    os.makedirs(bench.root)
    started = time.monotonic()
    try:
        bench.start_server()  # and into its namespace, before any thread or process
        log(f"ganesha (NFSv3) in namespace {bench.server.env['FERRY_TEST_NFS_NETNS']}, "
            f"export on {bench.export_dir}; {bench.rounds} round(s), "
            f"tools {', '.join(bench.tools)}")
        for tree in bench.trees:
            bench.bench_tree(tree)
        failed = bench.report()
    finally:
        bench.stop_server()
        shutil.rmtree(bench.root, ignore_errors=True)
    log(f"\ntotal {time.monotonic() - started:.0f} s")
    # A smoke run shows the script works (and its checks pass); its times
    # mean nothing.
    return 1 if (bench.broken() if args.smoke else failed) else 0


if __name__ == "__main__":
    sys.exit(main())
