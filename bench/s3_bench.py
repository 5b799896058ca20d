#!/usr/bin/env python3
"""Times ferry against rclone copy and aws s3 sync on a real S3 server (Ceph radosgw).

    s3_bench.py [--trees small,large] [--runs 3] [--ferry build/ferry] [--scale small=F]
                [--tools ferry,rclone,aws] [--aws PATH]
                [--root /dev/shm/ferry-s3-bench] [--memstore-bytes N]
                [--json-out FILE] [--smoke]

Starts a throwaway radosgw with tests/support/radosgw.sh (one memstore OSD:
every object is held in RAM; sized for the trees, see --memstore-bytes) and
stops it at the end, also after an error or Ctrl-C. One bucket, ferry-bench;
credentials reach every tool the way the aws CLI reads them
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), with the aws
config and credentials files pointed at files that do not exist, so no
user setting changes a tool's defaults.

For each tree (gen_tree.py, as run_bench.py makes them; --smoke makes small
200 files and large 8 x 8 MiB), with the tool order rotated every round:

  upload     local tree -> s3://ferry-bench/TREE/up-TOOL-rROUND, a fresh
             prefix each run (emptied before and deleted after, outside the
             timing); RUNS rounds.
  download   s3://ferry-bench/TREE/synced-TOOL -> a fresh local directory;
             the prefix was filled by an untimed upload by the same tool
             (checked like an upload); RUNS rounds.
  no-change  the same upload again into TREE/synced-TOOL, which is in sync
             and unchanged: the cost of a scheduled re-run; RUNS rounds.

The commands (SRC a local tree, B/P a bucket and prefix, URL the endpoint):

  ferry   ferry sync SRC s3://B/P --endpoint-url URL --verify-mode NONE --no-progress
          ferry sync s3://B/P DST --endpoint-url URL --verify-mode NONE --no-progress
          (no-change: --verify-mode ONLY_FILES_TRANSFERRED, as run_bench.py)
  rclone  env -u AWS_CA_BUNDLE rclone copy SRC ferrybench:B/P   (and back)
          the remote is defined only by RCLONE_CONFIG_FERRYBENCH_* variables
          (type s3, provider Ceph, endpoint, keys, region); rclone's defaults
          otherwise (--transfers 4, --checkers 8). AWS_CA_BUNDLE, set
          machine-wide here, breaks rclone 1.60's S3 backend.
  aws     aws s3 sync SRC s3://B/P --endpoint-url URL --only-show-errors
          (and back); the aws CLI's defaults otherwise (10 concurrent
          requests, 8 MiB multipart threshold and parts). --aws names the
          executable (default: `aws` on PATH, through pyenv's shim to the
          real script when PATH has a shim).

Every run is timed by run_bench.run_timed: wall time around the child, peak
RSS of the tool from GNU time's %M. A tool that fails is reported with its
output and the others go on. In the first round every result is checked, so
a fast but wrong run cannot count (it is marked WRONG and left out):
after an upload, the prefix is listed with boto3 and its keys and sizes must
be exactly the source tree's (zero-byte "folder/" markers of source folders
are allowed); each object's content is compared with the source file by its
ETag where the ETag is a plain MD5, else by downloading it and comparing
MD5s. After a download, `rsync -rl --checksum --delete --dry-run
--itemize-changes SRC/ DST/` must print nothing (content, names and types;
not mtimes or permissions). After a no-change run the prefix is checked
again, and objects that were written again are noted.

Targets (not judged with --smoke), from the faster of rclone and aws by
median wall time: ferry at least 1.5 x faster on small, upload and download;
at least as fast on large, both ways; at least 2 x faster on the no-change
re-run (each tree); ferry's peak RSS on small (largest over its small runs)
no more than rclone's.

Exit status: 0 when every run succeeded, every check passed and (without
--smoke) every target was judged and passed; 1 otherwise. Standard library
and boto3 only.
"""

import argparse
import concurrent.futures
import datetime
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_tree  # noqa: E402
import run_bench  # noqa: E402
from run_bench import MB, log  # noqa: E402

ALL_TREES = ["small", "large"]
ALL_TOOLS = ["ferry", "rclone", "aws"]
BASELINES = ["rclone", "aws"]
PHASES = ["upload", "download", "no-change"]
# Smaller than run_bench.py's smoke trees: every object costs requests, and the
# aws CLI takes about a second to start. small: 200 files in 4 folders; large:
# 8 files of 8 MiB, the aws CLI's multipart threshold, so that multipart
# ETags (not plain MD5s) are part of the smoke run's checks.
SMOKE_SCALE = {"small": 0.004, "large": 1 / 32}
SPEEDUP_TARGET = {("small", "upload"): 1.5, ("small", "download"): 1.5,
                  ("large", "upload"): 1.0, ("large", "download"): 1.0,
                  ("small", "no-change"): 2.0, ("large", "no-change"): 2.0}
BUCKET = "ferry-bench"
RCLONE_REMOTE = "ferrybench"
RGW_SCRIPT = os.path.join(REPO, "tests", "support", "radosgw.sh")
LABELS = {"ferry": "ferry", "rclone": "rclone copy", "aws": "aws s3 sync"}
GIB = 2**30
RAM_HEADROOM = 2 * GIB  # left for everything else on the machine


class Failed(Exception):
    pass


# ------------------------------------------------------------------ commands


def command(ctx, tool, phase, src, dst):
    """The command line of one run; src and dst are a local path or (bucket,
    prefix)."""
    def s3(x):
        return f"s3://{x[0]}/{x[1]}" if isinstance(x, tuple) else x

    def rc(x):
        return f"{RCLONE_REMOTE}:{x[0]}/{x[1]}" if isinstance(x, tuple) else x

    if tool == "ferry":
        verify = "ONLY_FILES_TRANSFERRED" if phase == "no-change" else "NONE"
        return [ctx.ferry, "sync", s3(src), s3(dst), "--endpoint-url", ctx.endpoint,
                "--verify-mode", verify, "--no-progress"]
    if tool == "rclone":
        return ["env", "-u", "AWS_CA_BUNDLE", "rclone", "copy", rc(src), rc(dst)]
    if tool == "aws":
        return [ctx.aws, "s3", "sync", s3(src), s3(dst), "--endpoint-url", ctx.endpoint,
                "--only-show-errors"]
    raise ValueError(tool)


def resolve_aws(name):
    """The aws executable: through pyenv's shim (a shell script that would be
    timed too) to the script it runs."""
    path = shutil.which(name)
    if not path:
        return None
    if "/shims/" in path and shutil.which("pyenv"):
        p = subprocess.run(["pyenv", "which", os.path.basename(path)], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        real = p.stdout.strip()
        if p.returncode == 0 and os.access(real, os.X_OK):
            return real
    return os.path.realpath(path)


def tool_env(server, root):
    """Environment of every tool (and of boto3 here): the server's keys as the
    aws CLI reads them, no user config, rclone's remote by variables."""
    env = {
        "AWS_ACCESS_KEY_ID": server["FERRY_TEST_S3_ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": server["FERRY_TEST_S3_SECRET_KEY"],
        "AWS_DEFAULT_REGION": server["FERRY_TEST_S3_REGION"],
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.path.join(root, "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(root, "no-aws-credentials"),
        "RCLONE_CONFIG": "/dev/null",
    }
    r = f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_"
    env.update({
        r + "TYPE": "s3",
        r + "PROVIDER": "Ceph",
        r + "ENDPOINT": server["FERRY_TEST_S3_ENDPOINT"],
        r + "ACCESS_KEY_ID": server["FERRY_TEST_S3_ACCESS_KEY"],
        r + "SECRET_ACCESS_KEY": server["FERRY_TEST_S3_SECRET_KEY"],
        r + "REGION": server["FERRY_TEST_S3_REGION"],
    })
    return env


UNSET = ["AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
         "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_MAX_ATTEMPTS",
         "AWS_RETRY_MODE", "AWS_REQUEST_CHECKSUM_CALCULATION",
         "AWS_RESPONSE_CHECKSUM_VALIDATION"]


# -------------------------------------------------------------------- server


def meminfo_bytes(key):
    v = run_bench.read_first("/proc/meminfo", key)
    return int(v.split()[0]) * 1024 if v else None


def memstore_for(ctx):
    """The OSD's RAM cap: every tool's synced copy of the biggest tree plus one
    upload in flight, 15 % for Ceph's own objects (bucket index, heads) and
    256 MiB; at least 1 GiB."""
    biggest = max(gen_tree.estimate(t, ctx.scale[t])[2] for t in ctx.tree_names)
    copies = len(ctx.tools) + 1
    need = int(copies * biggest * 1.15 + 256 * 2**20)
    return max(GIB, need), biggest


class Server:
    """tests/support/radosgw.sh start/stop around the benchmark."""

    def __init__(self, script, memstore_bytes):
        self.script = script
        self.memstore_bytes = memstore_bytes
        self.state = tempfile.mkdtemp(prefix="ferry-s3-bench-rgw.")
        self.started = False
        self.env = {}

    def start(self):
        env = dict(os.environ, FERRY_RGW_MEMSTORE_BYTES=str(self.memstore_bytes))
        self.started = True  # stop() is safe after a start that failed halfway
        t0 = time.monotonic()
        p = subprocess.run([self.script, "start", self.state], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise Failed(f"{self.script} start failed (exit {p.returncode}):\n"
                         + "\n".join((p.stderr + p.stdout).strip().splitlines()[-40:]))
        with open(os.path.join(self.state, "env")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.strip().split("=", 1)
                    self.env[k] = v
        with open(os.path.join(self.state, "cluster")) as f:
            self.conf = os.path.join(f.read().strip(), "ceph.conf")
        return time.monotonic() - t0

    def gc(self):
        """Frees now what deleted objects left to radosgw's garbage collector
        (tails of objects over 4 MiB; by default it waits 2 hours)."""
        subprocess.run(["radosgw-admin", "-c", self.conf, "gc", "process", "--include-all"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600)

    def daemon_rss_mb(self):
        """RSS of the cluster's daemons now, by name (MB)."""
        out = {}
        try:
            with open(os.path.join(self.state, "pids")) as f:
                for line in f:
                    name, pid = line.split()
                    rss = run_bench.read_first(f"/proc/{pid}/status", "VmRSS")
                    if rss:
                        out[name] = int(rss.split()[0]) * 1024 / MB
        except OSError:
            pass
        return out

    def stop(self):
        if not self.started:
            return
        self.started = False
        subprocess.run([self.script, "stop", self.state], stdin=subprocess.DEVNULL)


# -------------------------------------------------------------- S3 and trees


class Store:
    """boto3 on the bucket: listing, emptying and checking prefixes."""

    def __init__(self, endpoint):
        import boto3
        import botocore.config
        cfg = botocore.config.Config(max_pool_connections=16, retries={"max_attempts": 5})
        self.s3 = boto3.client("s3", endpoint_url=endpoint, config=cfg)

    def create_bucket(self):
        self.s3.create_bucket(Bucket=BUCKET)

    def list(self, prefix):
        """{key relative to prefix/: (size, etag, last_modified)}."""
        out = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                                  Prefix=prefix + "/")
        for page in pages:
            for o in page.get("Contents", []):
                out[o["Key"][len(prefix) + 1:]] = (o["Size"], o["ETag"].strip('"'),
                                                   o["LastModified"])
        return out

    def delete_prefix(self, prefix):
        """Deletes every object under prefix/ and aborts its unfinished
        multipart uploads; fails when something is left."""
        for _ in range(3):
            keys = [prefix + "/" + k for k in self.list(prefix)]
            batches = [keys[i:i + 1000] for i in range(0, len(keys), 1000)]
            with concurrent.futures.ThreadPoolExecutor(8) as ex:
                list(ex.map(lambda b: self.s3.delete_objects(
                    Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in b], "Quiet": True}),
                    batches))
            pages = self.s3.get_paginator("list_multipart_uploads").paginate(
                Bucket=BUCKET, Prefix=prefix + "/")
            for page in pages:
                for u in page.get("Uploads", []):
                    self.s3.abort_multipart_upload(Bucket=BUCKET, Key=u["Key"],
                                                   UploadId=u["UploadId"])
            if not self.list(prefix):
                return
        raise Failed(f"s3://{BUCKET}/{prefix}/ still holds objects after 3 rounds of deletes")

    def md5_of_object(self, key):
        h = hashlib.md5()
        body = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"]
        for chunk in iter(lambda: body.read(1 << 20), b""):
            h.update(chunk)
        return h.hexdigest()


def walk_tree(src):
    """(files {relative path: size}, folders {relative path})."""
    files, dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        if rel != ".":
            dirs.add(rel)
        for name in filenames:
            path = os.path.join(dirpath, name)
            files[os.path.normpath(os.path.join(rel, name))] = os.lstat(path).st_size
    return files, dirs


def md5_of_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_prefix(ctx, tree, prefix, content=True):
    """Differences between s3://BUCKET/prefix/ and the source tree, as lines
    ([] when they match), and the listing."""
    info = ctx.tree_files[tree]
    files, dirs = info
    listing = ctx.store.list(prefix)
    diff = []
    for rel, size in sorted(files.items()):
        o = listing.get(rel)
        if o is None:
            diff.append(f"missing {rel}")
        elif o[0] != size:
            diff.append(f"size {rel}: object {o[0]} bytes, file {size}")
    for key, o in sorted(listing.items()):
        if key in files:
            continue
        if key.endswith("/") and o[0] == 0 and key.rstrip("/") in dirs:
            continue  # a folder marker
        if key in ("", "/") and o[0] == 0:
            continue  # the root folder's marker (the prefix itself)
        diff.append(f"extra {key} ({o[0]} bytes)")
    if diff or not content:
        return diff, listing
    src = ctx.src[tree]

    def compare(rel):
        etag = listing[rel][1]
        local = md5_of_file(os.path.join(src, rel))
        if len(etag) == 32 and "-" not in etag:
            remote, how = etag.lower(), "ETag"
        else:
            remote, how = ctx.store.md5_of_object(prefix + "/" + rel), "downloaded"
        return None if remote == local else f"content {rel}: MD5 {remote} ({how}), file {local}"

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        diff = [d for d in ex.map(compare, sorted(files)) if d]
    return diff, listing


# ------------------------------------------------------------------ the runs


def note_problem(ctx, text):
    ctx.problems.append(text)


def fmt_rate(x, width):
    """A rate with 3 significant digits or more: 12345, 123, 1.23, 0.123."""
    return f"{x:{width}.0f}" if x >= 100 else f"{x:{width}.3g}"


def one_run(ctx, tree, phase, tool, rnd, src, dst):
    """One timed run; src/dst a local path or (bucket, prefix). Returns the
    record."""
    cmd = command(ctx, tool, phase, src, dst)
    res = run_bench.run_timed(cmd)
    check = diff = None
    rewritten = None
    if res["rc"] == 0 and rnd == 0:
        if phase == "download":
            diff = run_bench.check_tree(ctx.src[tree], dst, content_only=True)
        else:
            prefix = dst[1]
            before = ctx.synced_listing.get((tree, tool)) if phase == "no-change" else None
            # A no-change run wrote nothing if the listing is the same: then
            # the content check done after the fill still holds.
            diff, listing = check_prefix(ctx, tree, prefix, content=before is None)
            if before is not None and not diff:
                rewritten = sum(1 for k, o in listing.items()
                                if k in before and (o[1], o[2]) != (before[k][1], before[k][2]))
                if rewritten:
                    diff, listing = check_prefix(ctx, tree, prefix, content=True)
                ctx.synced_listing[(tree, tool)] = listing
        check = "wrong" if diff else "ok"
    rec = run_bench.record(tree, phase, tool, rnd + 1, cmd, res, check, diff)  # 1-based
    info = ctx.trees[tree]
    rec["bytes"] = info["bytes"]
    rec["files"] = info["files"]
    if rewritten is not None:
        rec["objects_rewritten"] = rewritten
    ctx.records.append(rec)
    mark = ""
    if rec["rc"] != 0:
        mark = "  FAILED"
        note_problem(ctx, run_bench.describe_failure(rec))
    elif check == "wrong":
        mark = f"  WRONG ({len(diff)} differences)"
        note_problem(ctx, f"{tree} {phase} {tool} round {rnd + 1}: the result differs from "
                          f"the source after {rec['cmd']}: {len(diff)} differences, first:\n"
                          "      " + "\n      ".join(diff[:12]))
    if rewritten:
        mark += f"  ({rewritten:,} objects written again)"
        ctx.notes.append(f"{tree} no-change round {rnd + 1}: {tool} wrote {rewritten:,} "
                         "objects again into a prefix that was already in sync")
    if phase == "no-change" and tool == "ferry" and rec.get("ferry_files_transferred"):
        mark += f"  (transferred {rec['ferry_files_transferred']:,} files)"
        ctx.notes.append(f"{tree} no-change round {rnd + 1}: ferry transferred "
                         f"{rec['ferry_files_transferred']:,} files into a prefix that was "
                         "already in sync")
    w = res["wall_s"]
    good = rec["rc"] == 0 and check != "wrong"  # no rates for a run that does not count
    mbs = fmt_rate(info["bytes"] / MB / w, 8) if good else f"{'-':>8}"
    fps = fmt_rate(info["files"] / w, 9) if good else f"{'-':>9}"
    log(f"    {phase:9} round {rnd + 1}  {LABELS[tool]:11} {w:9.3f} s "
        f"{mbs} MB/s {fps} files/s "
        f"{res['maxrss_kib'] * 1024 / MB:7.1f} MB RSS"
        f"{'  checked' if check == 'ok' else ''}{mark}")
    return rec


def empty_prefix(ctx, prefix):
    ctx.store.delete_prefix(prefix)
    if ctx.trees_big:
        ctx.server.gc()


def bench_tree(ctx, tree):
    tdir = os.path.join(ctx.root, tree)
    src = os.path.join(tdir, "src")
    down = os.path.join(tdir, "down")
    os.makedirs(tdir)
    scale = ctx.scale[tree]
    t0 = time.monotonic()
    files, dirs, size = gen_tree.generate(tree, src, seed=ctx.seed, scale=scale)
    gen_s = time.monotonic() - t0
    ctx.src[tree] = src
    ctx.tree_files[tree] = walk_tree(src)
    ctx.trees[tree] = {"files": files, "dirs": dirs, "bytes": size, "scale": scale,
                       "seed": ctx.seed, "generate_s": gen_s}
    # Objects over 4 MiB leave tails to radosgw's garbage collector.
    ctx.trees_big = any(s > 4 * 2**20 for s in ctx.tree_files[tree][0].values())
    log(f"\n== {tree}: {files:,} files, {dirs:,} directories, {size / 2**20:,.1f} MiB "
        f"(seed {ctx.seed}, scale {scale:g}; generated in {gen_s:.1f} s)")

    # upload: a fresh prefix per tool and round, deleted outside the timing.
    for rnd in range(ctx.rounds if "upload" in ctx.phases else 0):
        for tool in run_bench.rotated(ctx.tools, rnd):
            prefix = f"{tree}/up-{tool}-r{rnd + 1}"
            empty_prefix(ctx, prefix)
            one_run(ctx, tree, "upload", tool, rnd, src, (BUCKET, prefix))
            empty_prefix(ctx, prefix)

    # Each tool's synced prefix, filled by an untimed upload by the tool and
    # checked: the source of its downloads and the target of its no-change runs.
    synced = {}
    for tool in ctx.tools:
        prefix = f"{tree}/synced-{tool}"
        empty_prefix(ctx, prefix)
        cmd = command(ctx, tool, "upload", src, (BUCKET, prefix))
        res = run_bench.run_timed(cmd)
        why = None
        if res["rc"] != 0:
            why = f"exit {res['rc']}: " + " ".join((res["stderr"] + res["stdout"]).split())[:400]
        else:
            diff, listing = check_prefix(ctx, tree, prefix)
            if diff:
                why = f"{len(diff)} differences, first: " + "; ".join(diff[:5])
            else:
                synced[tool] = prefix
                ctx.synced_listing[(tree, tool)] = listing
        if why:
            note_problem(ctx, f"{tree}: {tool} could not fill s3://{BUCKET}/{prefix}/ for its "
                              f"downloads and no-change runs (untimed: "
                              f"{' '.join(shlex.quote(c) for c in cmd)}): {why}")
    ctx.trees[tree]["synced_by"] = dict(synced)
    if not synced:
        note_problem(ctx, f"{tree}: no tool could fill a prefix: downloads and no-change "
                          "runs skipped")
    else:
        # A tool whose own upload failed downloads what another tool uploaded.
        fallback = next(iter(synced.values()))
        down_src = {t: synced.get(t, fallback) for t in ctx.tools}
        for t in ctx.tools:
            if t not in synced:
                ctx.notes.append(f"{tree}: {t} downloads s3://{BUCKET}/{fallback}/ (filled by "
                                 "another tool), as it could not fill its own prefix")
        for rnd in range(ctx.rounds if "download" in ctx.phases else 0):
            for tool in run_bench.rotated(ctx.tools, rnd):
                run_bench.remove(down)
                one_run(ctx, tree, "download", tool, rnd, (BUCKET, down_src[tool]), down)
                run_bench.remove(down)
        nc_tools = [t for t in ctx.tools if t in synced]
        for rnd in range(ctx.rounds if "no-change" in ctx.phases else 0):
            for tool in run_bench.rotated(nc_tools, rnd):
                one_run(ctx, tree, "no-change", tool, rnd, src, (BUCKET, synced[tool]))
    for tool in ctx.tools:
        empty_prefix(ctx, f"{tree}/synced-{tool}")
    ctx.trees[tree]["server_rss_mb_end"] = ctx.server.daemon_rss_mb()
    run_bench.remove(tdir)


# ------------------------------------------------------------------- results


def print_tables(ctx, summary):
    for tree in ctx.tree_names:
        if tree not in summary:
            continue
        info = ctx.trees[tree]
        log(f"\n{tree}: {info['files']:,} files, {info['dirs']:,} directories, "
            f"{info['bytes'] / 2**20:,.1f} MiB")
        for phase, title in (("upload", "upload: local -> a fresh prefix"),
                             ("download", "download: a prefix -> a fresh local folder"),
                             ("no-change", "no-change: upload again into a prefix in sync")):
            tools = summary[tree].get(phase)
            if not tools:
                continue
            log(f"  {title}")
            log(f"    {'tool':12} {'median s':>8} {'min s':>8} {'max s':>8} {'MB/s':>8} "
                f"{'files/s':>8} {'peak RSS MB':>12} {'CPU s':>7}  check")
            for tool in ctx.tools:
                s = tools.get(tool)
                if s is None:
                    continue
                if s["runs"] == 0:
                    log(f"    {LABELS[tool]:12} FAILED in all {s['failed']} runs")
                    continue
                check = {"ok": "ok", "wrong": "WRONG", None: "-"}[s["check"]]
                failed = f" ({s['failed']} failed)" if s["failed"] else ""
                m = s["median_s"]
                log(f"    {LABELS[tool]:12} {run_bench.fmt_s(m)} {run_bench.fmt_s(s['min_s'])} "
                    f"{run_bench.fmt_s(s['max_s'])} {fmt_rate(info['bytes'] / MB / m, 8)} "
                    f"{fmt_rate(info['files'] / m, 8)} {s['peak_rss_mb']:12.1f} "
                    f"{s['cpu_median_s']:7.2f}  {check}{failed}")


def med(summary, tree, phase, tool):
    s = summary.get(tree, {}).get(phase, {}).get(tool)
    if not s or s["runs"] == 0 or s["failed"]:
        return None
    return s["median_s"]


def peak_rss(summary, tree, tool):
    """Largest peak RSS (MB) over the tool's runs on tree, or None when a
    run failed or none ran."""
    peaks = []
    for phase in PHASES:
        s = summary.get(tree, {}).get(phase, {}).get(tool)
        if s is None:
            continue
        if s["runs"] == 0 or s["failed"]:
            return None
        peaks.append(s["peak_rss_mb"])
    return max(peaks) if peaks else None


def ratios(ctx, summary):
    """[(tree, phase, ferry s, best baseline, its s, speedup)] where known."""
    out = []
    for tree in ctx.tree_names:
        for phase in ctx.phases:  # a phase not asked for is not judged
            base = [(med(summary, tree, phase, t), t) for t in BASELINES if t in ctx.tools]
            base = [(m, t) for m, t in base if m is not None]
            best = min(base) if base else (None, None)
            f = med(summary, tree, phase, "ferry")
            out.append((tree, phase, f, best[1], best[0],
                        best[0] / f if f and best[0] else None))
    return out


def print_ratios(ctx, summary):
    log("\n== ferry against the faster of rclone and aws (speedup = its median / ferry's)")
    for tree, phase, f, best, b, speedup in ratios(ctx, summary):
        fs = f"{f:.3f} s" if f is not None else "failed"
        bs = f"{LABELS[best]} {b:.3f} s" if best else "no baseline"
        sp = f"{speedup:.2f} x" if speedup is not None else "-"
        log(f"  {tree:5} {phase:9}  ferry {fs:>10}  vs {bs:24}  speedup {sp}")
    f, r = peak_rss(summary, "small", "ferry"), peak_rss(summary, "small", "rclone")
    if "small" in summary:
        log(f"  small peak RSS: ferry {f'{f:.1f} MB' if f is not None else 'failed'}, rclone "
            f"{f'{r:.1f} MB' if r is not None else 'failed'}"
            + (f" ({f / r:.2f} x)" if f and r else ""))


def judge(ctx, summary):
    """[(name, PASS/FAIL/N/A, detail)]."""
    out = []
    for tree, phase, f, best, b, speedup in ratios(ctx, summary):
        if tree not in summary:
            continue
        k = SPEEDUP_TARGET[(tree, phase)]
        name = f"{tree} {phase}: ferry at least {k:g} x faster than the faster of rclone and aws"
        if k == 1.0:
            name = f"{tree} {phase}: ferry at least as fast as the faster of rclone and aws"
        if "ferry" not in ctx.tools:
            out.append((name, "N/A", "ferry not run"))
        elif f is None:
            out.append((name, "FAIL", "ferry failed, or a result was wrong"))
        elif best is None:
            out.append((name, "N/A", "no rclone or aws baseline"))
        else:
            out.append((name, "PASS" if speedup >= k else "FAIL",
                        f"ferry {f:.3f} s vs {LABELS[best]} {b:.3f} s: {speedup:.2f} x"))
    if "small" in summary:
        name = "small peak RSS: ferry <= rclone"
        f, r = peak_rss(summary, "small", "ferry"), peak_rss(summary, "small", "rclone")
        if "ferry" not in ctx.tools:
            out.append((name, "N/A", "ferry not run"))
        elif f is None:
            out.append((name, "FAIL", "ferry failed in a small run"))
        elif r is None:
            out.append((name, "N/A", "no rclone figure"))
        else:
            out.append((name, "PASS" if f <= r else "FAIL", f"ferry {f:.1f} MB, rclone {r:.1f} MB"))
    return out


class Context:
    pass


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    p.add_argument("--trees", default=",".join(ALL_TREES),
                   help="comma-separated subset of small,large (default: both)")
    p.add_argument("--runs", type=int, default=3, help="rounds per phase (default 3)")
    p.add_argument("--phases", default=",".join(PHASES),
                   help="the timed phases, of " + ", ".join(PHASES) + " (default: all; the "
                        "untimed fill that downloads and no-change runs start from is done "
                        "whenever one of those is asked for)")
    p.add_argument("--ferry", default="build/ferry", help="the ferry binary (default build/ferry)")
    p.add_argument("--tools", default=",".join(ALL_TOOLS),
                   help="subset of ferry,rclone,aws to run (default: all three)")
    p.add_argument("--aws", default="aws",
                   help="the aws CLI (default: aws on PATH; see above)")
    p.add_argument("--root", default="/dev/shm/ferry-s3-bench",
                   help="local work directory, on tmpfs (default /dev/shm/ferry-s3-bench); "
                        "removed after")
    p.add_argument("--memstore-bytes", type=int,
                   help="the radosgw OSD's RAM cap (default: (tools + 1) x the biggest tree "
                        "x 1.15 + 256 MiB, at least 1 GiB)")
    p.add_argument("--rgw-script", default=RGW_SCRIPT,
                   help="radosgw start/stop script (default tests/support/radosgw.sh)")
    p.add_argument("--json-out", help="write every measurement to this JSON file")
    p.add_argument("--seed", type=int, default=42, help="tree seed (default 42)")
    p.add_argument("--scale", default="",
                   help="TREE=F[,TREE=F]: scale a tree as gen_tree.py --scale does "
                        "(e.g. small=0.2 for 10,000 files); printed with the results")
    p.add_argument("--smoke", action="store_true",
                   help="tiny trees, 1 run, no target verdicts: checks that the script works")
    args = p.parse_args(argv)

    ctx = Context()
    ctx.tree_names = [t.strip() for t in args.trees.split(",") if t.strip()]
    bad = [t for t in ctx.tree_names if t not in ALL_TREES]
    if bad or not ctx.tree_names:
        p.error(f"--trees: unknown {bad}; choose from {ALL_TREES}")
    ctx.tree_names = [t for t in ALL_TREES if t in ctx.tree_names]
    ctx.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if not ctx.tools or any(t not in ALL_TOOLS for t in ctx.tools):
        p.error(f"--tools: a subset of {ALL_TOOLS}")
    ctx.tools = [t for t in ALL_TOOLS if t in ctx.tools]
    ctx.rounds = 1 if args.smoke else args.runs
    ctx.phases = [x.strip() for x in args.phases.split(",") if x.strip()]
    for x in ctx.phases:
        if x not in PHASES:
            raise SystemExit(f"s3_bench: unknown phase '{x}' (of {', '.join(PHASES)})")
    if ctx.rounds < 1:
        p.error("--runs must be at least 1")
    ctx.ferry = os.path.abspath(args.ferry)
    if "ferry" in ctx.tools and not os.access(ctx.ferry, os.X_OK):
        p.error(f"--ferry: {args.ferry} is not an executable (build it with scripts/build.sh)")
    ctx.aws = resolve_aws(args.aws) if "aws" in ctx.tools else None
    if "aws" in ctx.tools and not ctx.aws:
        p.error(f"--aws: {args.aws} not found")
    if "rclone" in ctx.tools and not shutil.which("rclone"):
        p.error("rclone is not installed (scripts/setup.sh installs it)")
    if not shutil.which("rsync"):
        p.error("rsync (the download check) is not installed")
    try:
        import boto3  # noqa: F401
    except ImportError:
        p.error(f"boto3 is needed ({sys.executable} -m pip install boto3)")
    if not os.access(args.rgw_script, os.X_OK):
        p.error(f"--rgw-script: {args.rgw_script} is not an executable")
    ctx.rgw_script = os.path.abspath(args.rgw_script)
    ctx.seed = args.seed
    ctx.scale = {t: (SMOKE_SCALE[t] if args.smoke else 1.0) for t in ALL_TREES}
    for item in filter(None, args.scale.split(",")):
        tree, _, value = item.partition("=")
        try:
            factor = float(value)
        except ValueError:
            factor = 0.0
        if tree not in ALL_TREES or factor <= 0:
            p.error(f"--scale: '{item}' is not TREE=F with TREE in {ALL_TREES} and F > 0")
        ctx.scale[tree] = factor
    ctx.root = os.path.abspath(args.root)
    ctx.trees = {}
    ctx.src = {}
    ctx.tree_files = {}
    ctx.synced_listing = {}
    ctx.records = []
    ctx.problems = []
    ctx.notes = []
    ctx.trees_big = False
    return run(ctx, args)


def versions_of(ctx):
    v = {}
    if "ferry" in ctx.tools:
        v["ferry"] = run_bench.tool_version([ctx.ferry, "--version"])
    if "rclone" in ctx.tools:
        v["rclone"] = run_bench.tool_version(["env", "-u", "AWS_CA_BUNDLE", "rclone", "version"])
    if "aws" in ctx.tools:
        v["aws"] = f"{run_bench.tool_version([ctx.aws, '--version'])} ({ctx.aws})"
    import boto3
    import botocore
    v["boto3"] = f"boto3 {boto3.__version__}, botocore {botocore.__version__} (the checks)"
    v["rsync"] = run_bench.tool_version(["rsync", "--version"])
    v["radosgw"] = run_bench.tool_version(["radosgw", "--version"])
    return v


MAIN_PID = os.getpid()


def on_sigterm(signum, frame):
    """SIGTERM stops the benchmark like Ctrl-C (radosgw is stopped). The
    tree generator's worker processes inherit this handler: they just end."""
    if os.getpid() != MAIN_PID:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise KeyboardInterrupt


def run(ctx, args):
    memstore, biggest = memstore_for(ctx)
    if args.memstore_bytes:
        memstore = args.memstore_bytes
    # RAM: the OSD holds up to the memstore cap; the work directory (tmpfs)
    # holds a tree and one download of it.
    local = 2 * biggest * 1.05
    avail = meminfo_bytes("MemAvailable") or 0
    need = memstore + local + RAM_HEADROOM
    budget = (f"memstore {memstore / GIB:.1f} GiB + work directory {local / GIB:.1f} GiB + "
              f"{RAM_HEADROOM / GIB:.0f} GiB headroom = {need / GIB:.1f} GiB; "
              f"{avail / GIB:.1f} GiB available")
    if avail < need:
        sys.exit(f"s3_bench: not enough memory: {budget}. Stop what else uses memory, "
                 "or run fewer trees or tools (--trees, --tools).")

    run_bench.prepare_root(ctx.root)
    started = datetime.datetime.now(datetime.timezone.utc)
    machine = run_bench.machine_info(ctx.root)
    versions = versions_of(ctx)
    argv = run_bench.command_line()
    run_bench.log_header("ferry S3 benchmark", started, argv, machine, versions, ctx.root,
                         args.smoke)
    log(f"  memory:  {budget}")
    log(f"  runs:    {ctx.rounds} per tool and phase, tool order rotated every round")
    log("  options: rclone defaults (--transfers 4 --checkers 8); aws defaults "
        "(max_concurrent_requests 10, multipart 8 MiB)")

    ctx.server = Server(ctx.rgw_script, memstore)
    old_term = signal.signal(signal.SIGTERM, on_sigterm)
    t_all = time.monotonic()
    interrupted = False
    rgw_start_s = None
    try:
        rgw_start_s = ctx.server.start()
        ctx.endpoint = ctx.server.env["FERRY_TEST_S3_ENDPOINT"]
        log(f"  radosgw: {ctx.endpoint}, memstore {memstore / GIB:.1f} GiB, "
            f"ready in {rgw_start_s:.1f} s (state {ctx.server.state})")
        for k in UNSET:
            os.environ.pop(k, None)
        os.environ.update(tool_env(ctx.server.env, ctx.root))
        ctx.store = Store(ctx.endpoint)
        ctx.store.create_bucket()
        for tree in ctx.tree_names:
            bench_tree(ctx, tree)
    except KeyboardInterrupt:
        interrupted = True
        ctx.problems.append("interrupted")
    except Failed as e:
        ctx.problems.append(str(e))
    except Exception as e:  # boto3, radosgw-admin, ...: report, clean up, fail
        ctx.problems.append(f"{type(e).__name__}: {e}\n" + traceback.format_exc())
    finally:
        try:
            ctx.server.stop()
        finally:
            run_bench.remove(ctx.root)
            signal.signal(signal.SIGTERM, old_term)

    summary = run_bench.summarize(ctx)
    log("\n== results")
    print_tables(ctx, summary)
    if "ferry" in ctx.tools:
        print_ratios(ctx, summary)
    verdicts = [] if args.smoke else judge(ctx, summary)
    log("\n== targets")
    if args.smoke:
        log("  not judged in a smoke run (tiny trees, 1 run)")
    for name, v, detail in verdicts:
        log(f"  {v:4} {name}: {detail}")
    if ctx.problems:
        log("\n== problems")
        for prob in ctx.problems:
            log(f"  {prob}")
    if ctx.notes:
        log("\n== notes")
        for note in ctx.notes:
            log(f"  {note}")
    total = time.monotonic() - t_all
    machine["loadavg_end"] = os.getloadavg()
    log(f"\ntotal {total:.1f} s (radosgw start {rgw_start_s or 0:.1f} s); load at the end "
        f"{machine['loadavg_end'][0]:.2f}")

    if args.json_out:
        ex = (BUCKET, "P")
        doc = {
            "started_utc": started.isoformat(),
            "command": f"python3 {argv}",
            "smoke": args.smoke,
            "runs_per_phase": ctx.rounds,
            "machine": machine,
            "versions": versions,
            "radosgw": {"memstore_bytes": memstore, "start_s": rgw_start_s,
                        "script": ctx.rgw_script},
            "commands": {t: {ph: " ".join(command(ctx, t, ph, *(("SRC", ex) if ph != "download"
                                                                else (ex, "DST"))))
                             for ph in PHASES} for t in ctx.tools} if hasattr(ctx, "endpoint")
            else {},
            "download_check": " ".join(run_bench.CONTENT_CHECK) + " SRC/ DST/",
            "trees": ctx.trees,
            "runs": ctx.records,
            "summary": summary,
            "ratios": [{"tree": t, "phase": ph, "ferry_s": f, "baseline": b, "baseline_s": bs,
                        "speedup": sp} for t, ph, f, b, bs, sp in ratios(ctx, summary)],
            "targets": [{"target": n, "verdict": v, "detail": d} for n, v, d in verdicts],
            "problems": ctx.problems,
            "notes": ctx.notes,
            "total_s": total,
        }
        with open(args.json_out, "w") as f:
            json.dump(doc, f, indent=2, default=str)
        log(f"measurements written to {args.json_out}")
    failed = (interrupted or ctx.problems
              or any(v != "PASS" for _, v, _ in verdicts))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
