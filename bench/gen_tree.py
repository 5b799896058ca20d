#!/usr/bin/env python3
"""Generates the benchmark and demo trees, the same tree for the same seed.

    gen_tree.py --kind {small,large,many,demo} --out DIR [--seed N] [--scale F] [--jobs N]

Kinds (at --scale 1):
  small  50,000 files of 1-16 KiB (uniform) in 1,000 leaf directories
         (40 groups of 25), about 415 MiB
  large  8 files of 256 MiB each, 2 GiB
  many   1,000,000 empty files in 1,000 directories of 1,000
  demo   about 2,000 files of 1-64 KiB over 40 nested directories, 3 files of
         4-32 MiB, an empty file, a relative symlink and a sparse file
         (64 MiB apparent, 2 MiB of data): a sample for the README demo

Every byte of file content comes from a seeded PRNG (random.Random.randbytes),
so no tool gains by compressing and the same seed always gives the same
names, sizes, contents, permission bits and timestamps. Each directory (or
large file) draws from its own PRNG, seeded from (kind, seed, part), so the
work can be spread over worker processes without changing the result.

--scale multiplies the file and directory counts; for large it multiplies the
size of each of the 8 files instead (--scale 0.015625 gives 8 x 4 MiB).
The tree is written into DIR, which must not exist or be empty.
Standard library only; runs with Python 3.9+.
"""

import argparse
import math
import multiprocessing
import os
import random
import sys
import time

KIB = 1024
MIB = 1024 * KIB
PIECE = 4 * MIB  # large files are generated and written in pieces of this size

# Timestamps are drawn from [BASE_TIME, BASE_TIME + TIME_SPAN) with nanoseconds,
# so tools that drop sub-second precision show up in the destination check.
BASE_TIME = 1_600_000_000  # 2020-09-13
TIME_SPAN = 3 * 365 * 86400

OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def rng(kind, seed, part):
    """The PRNG for one part of a tree (str seeds hash with SHA-512: stable)."""
    return random.Random(f"ferry-bench/{kind}/{seed}/{part}")


def draw_time(r):
    ns = (BASE_TIME + r.randrange(TIME_SPAN)) * 1_000_000_000 + r.randrange(1_000_000_000)
    return (ns, ns)


def draw_mode(r):
    x = r.random()
    if x < 0.05:
        return 0o755
    if x < 0.07:
        return 0o600
    return 0o644


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_file(dir_fd, name, size, r, mode=0o644, times=None):
    """Creates NAME in DIR_FD with SIZE random bytes from R."""
    fd = os.open(name, OPEN_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        left = size
        while left > 0:
            n = min(left, PIECE)
            write_all(fd, r.randbytes(n))
            left -= n
        os.fchmod(fd, mode)
        if times is not None:
            os.utime(fd, ns=times)
    finally:
        os.close(fd)
    return size


# ---------------------------------------------------------------- tree plans
#
# A plan is (dirs, tasks): the directories to create (parents first, relative
# to the root; "" is the root itself) and the tasks that fill them. Each task
# is a tuple run by run_task() in a worker; it returns (files, bytes).


def plan_small(seed, scale):
    n_files = max(1, round(50_000 * scale))
    n_dirs = max(1, min(n_files, round(1_000 * scale)))
    group = 25
    leaves = [f"g{j // group:03d}/d{j % group:02d}" for j in range(n_dirs)]
    groups = sorted({leaf.split("/")[0] for leaf in leaves})
    tasks = []
    for j, leaf in enumerate(leaves):
        first = j * n_files // n_dirs
        last = (j + 1) * n_files // n_dirs
        tasks.append(("small", seed, j, leaf, first, last))
    return groups + leaves, tasks


def plan_large(seed, scale):
    size = max(1, round(256 * MIB * scale))
    return [""], [("large", seed, i, size) for i in range(8)]


def plan_many(seed, scale):
    n_files = max(1, round(1_000_000 * scale))
    n_dirs = max(1, min(n_files, round(1_000 * scale)))
    dirs = [f"d{j:03d}" for j in range(n_dirs)]
    tasks = []
    for j, d in enumerate(dirs):
        first = j * n_files // n_dirs
        last = (j + 1) * n_files // n_dirs
        tasks.append(("many", seed, j, d, first, last))
    return dirs, tasks


DEMO_TOP = {
    "docs": (["reports", "notes", "specs"], [".md", ".txt", ".pdf"]),
    "photos": (["2022", "2023", "2024"], [".jpg", ".png"]),
    "projects": (["ferry", "website", "tools"], [".c", ".py", ".json"]),
    "music": (["albums", "live", "demos"], [".mp3", ".flac"]),
    "archive": (["old", "backups", "misc"], [".dat", ".bin"]),
}


def plan_demo(seed, scale):
    r = rng("demo", seed, "layout")
    dirs = []
    for top, (subs, _) in DEMO_TOP.items():
        dirs.append(top)
        for sub in subs:
            dirs.append(f"{top}/{sub}")
            for k in range(r.choice((1, 1, 2))):
                dirs.append(f"{top}/{sub}/part-{k + 1}")
    n_files = max(1, round(2_000 * scale))
    placed = {}
    for i in range(n_files):
        d = r.choice(dirs)
        placed.setdefault(d, []).append(i)
    tasks = [("demo", seed, d, idx) for d, idx in sorted(placed.items())]
    n_big = max(1, round(3 * scale))
    tasks += [("demo-big", seed, k) for k in range(n_big)]
    # Run after the others: the symlink points at a file they create.
    tasks.append(("demo-special", seed, sorted(placed.items())))
    return dirs, tasks


def estimate(kind, scale=1.0):
    """(files, dirs, bytes) that generate() will need, roughly: bytes as a
    filesystem with 4 KiB blocks holds them. Lets callers check for room first."""
    if kind == "small":
        n = max(1, round(50_000 * scale))
        return n, max(1, min(n, round(1_000 * scale))) + 40, n * 10_800
    if kind == "large":
        return 8, 0, 8 * max(1, round(256 * MIB * scale))
    if kind == "many":
        n = max(1, round(1_000_000 * scale))
        return n, max(1, min(n, round(1_000 * scale))), 0
    return max(1, round(2_000 * scale)) + 8, 40, round(2_000 * scale) * 36 * KIB + 130 * MIB


LAST = {"demo-special"}  # task kinds run in the main process after the rest
PLANS = {"small": plan_small, "large": plan_large, "many": plan_many, "demo": plan_demo}


# --------------------------------------------------------------------- tasks

_ROOT = None  # set in each worker (inherited through fork, or passed by init)


def _init_worker(root):
    global _ROOT
    _ROOT = root


def _open_dir(rel):
    return os.open(os.path.join(_ROOT, rel) if rel else _ROOT, DIR_FLAGS)


def run_task(task):
    kind = task[0]
    if kind == "small":
        _, seed, j, rel, first, last = task
        r = rng("small", seed, j)
        dfd = _open_dir(rel)
        total = 0
        try:
            for i in range(first, last):
                size = r.randint(1 * KIB, 16 * KIB)
                total += write_file(dfd, f"file-{i:06d}.bin", size, r, draw_mode(r), draw_time(r))
        finally:
            os.close(dfd)
        return last - first, total
    if kind == "large":
        _, seed, i, size = task
        r = rng("large", seed, i)
        dfd = _open_dir("")
        try:
            write_file(dfd, f"large-{i}.bin", size, r, 0o644, draw_time(r))
        finally:
            os.close(dfd)
        return 1, size
    if kind == "many":
        _, seed, j, rel, first, last = task
        r = rng("many", seed, j)
        times = draw_time(r)  # one timestamp per directory keeps this fast
        dfd = _open_dir(rel)
        try:
            for i in range(first, last):
                fd = os.open(f"e{i:07d}", OPEN_FLAGS, 0o644, dir_fd=dfd)
                os.utime(fd, ns=times)
                os.close(fd)
        finally:
            os.close(dfd)
        return last - first, 0
    if kind == "demo":
        _, seed, rel, indices = task
        r = rng("demo", seed, rel)
        exts = DEMO_TOP[rel.split("/")[0]][1]
        stem = rel.split("/")[-1].replace("part-", "item")
        dfd = _open_dir(rel)
        total = 0
        try:
            for i in indices:
                name = f"{stem}-{i:04d}{r.choice(exts)}"
                size = r.randint(1 * KIB, 64 * KIB)
                total += write_file(dfd, name, size, r, draw_mode(r), draw_time(r))
        finally:
            os.close(dfd)
        return len(indices), total
    if kind == "demo-big":
        _, seed, k = task
        r = rng("demo-big", seed, k)
        size = r.randint(4 * MIB, 32 * MIB)
        dfd = _open_dir("archive/backups")
        try:
            write_file(dfd, f"backup-{k + 1}.tar", size, r, 0o644, draw_time(r))
        finally:
            os.close(dfd)
        return 1, size
    if kind == "demo-special":
        _, seed, placed = task
        r = rng("demo-special", seed, 0)
        # An empty file.
        dfd = _open_dir("projects/ferry")
        try:
            write_file(dfd, ".keep", 0, r, 0o644, draw_time(r))
        finally:
            os.close(dfd)
        # A sparse file: 64 MiB apparent, 1 MiB of data at 0 and at 32 MiB.
        dfd = _open_dir("archive")
        try:
            fd = os.open("disk.img", OPEN_FLAGS, 0o644, dir_fd=dfd)
            try:
                write_all(fd, r.randbytes(MIB))
                os.lseek(fd, 32 * MIB, os.SEEK_SET)
                write_all(fd, r.randbytes(MIB))
                os.ftruncate(fd, 64 * MIB)
                os.utime(fd, ns=draw_time(r))
            finally:
                os.close(fd)
        finally:
            os.close(dfd)
        # A relative symlink at the root to the first generated file. Its
        # timestamps are set too (lutimes), so the tree is fully determined.
        first_dir = placed[0][0]
        names = sorted(os.listdir(os.path.join(_ROOT, first_dir)))
        target = f"{first_dir}/{names[0]}"
        link = os.path.join(_ROOT, "latest")
        os.symlink(target, link)
        os.utime(link, ns=draw_time(r), follow_symlinks=False)
        return 3, 2 * MIB
    raise ValueError(f"unknown task {kind}")


# ---------------------------------------------------------------------- main


def generate(kind, out, seed=42, scale=1.0, jobs=None):
    """Generates the tree; returns (files, dirs, bytes)."""
    if os.path.lexists(out):
        if not os.path.isdir(out) or os.listdir(out):
            raise SystemExit(f"gen_tree: {out} exists and is not an empty directory")
    else:
        os.makedirs(out)
    root = os.path.abspath(out)
    old_umask = os.umask(0o022)
    try:
        dirs, tasks = PLANS[kind](seed, scale)
        for d in dirs:
            if d:
                os.mkdir(os.path.join(root, d), 0o755)
        post = [t for t in tasks if t[0] in LAST]
        tasks = [t for t in tasks if t[0] not in LAST]
        jobs = jobs or len(os.sched_getaffinity(0))
        jobs = max(1, min(jobs, len(tasks)))
        files = size = 0
        _init_worker(root)
        if jobs == 1:
            results = list(map(run_task, tasks))
        else:
            ctx = multiprocessing.get_context("fork")
            chunk = max(1, len(tasks) // (jobs * 8))
            with ctx.Pool(jobs, initializer=_init_worker, initargs=(root,)) as pool:
                results = list(pool.imap_unordered(run_task, tasks, chunksize=chunk))
        results += [run_task(t) for t in post]
        for f, b in results:
            files += f
            size += b
        # Directory timestamps last (deepest first), since creating entries
        # in a directory changes its mtime.
        r = rng(kind, seed, "dirs")
        all_dirs = [d for d in dirs if d] + [""]
        stamps = {d: draw_time(r) for d in all_dirs}
        for d in sorted(all_dirs, key=lambda p: -p.count("/") - (1 if p else 0)):
            path = os.path.join(root, d) if d else root
            os.chmod(path, 0o755)
            os.utime(path, ns=stamps[d])
    finally:
        os.umask(old_umask)
    return files, len(all_dirs) - 1, size


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    p.add_argument("--kind", required=True, choices=sorted(PLANS))
    p.add_argument("--out", required=True, help="directory to create (must not exist or be empty)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scale", type=float, default=1.0, help="multiplies counts (large: sizes)")
    p.add_argument("--jobs", type=int, default=0, help="worker processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    args = p.parse_args(argv)
    if not (args.scale > 0 and math.isfinite(args.scale)):
        p.error("--scale must be a positive number")
    t0 = time.monotonic()
    try:
        files, dirs, size = generate(args.kind, args.out, args.seed, args.scale, args.jobs or None)
    except OSError as e:
        need = estimate(args.kind, args.scale)
        sys.exit(f"gen_tree: {e}\ngen_tree: the tree needs about {need[2] / MIB:,.0f} MiB and "
                 f"{need[0] + need[1]:,} inodes (see df -h and df -i); "
                 f"{args.out} is left as it is")
    dt = time.monotonic() - t0
    if not args.quiet:
        print(
            f"gen_tree: {args.kind} (seed {args.seed}, scale {args.scale:g}): "
            f"{files:,} files, {dirs:,} directories, {size / MIB:,.1f} MiB "
            f"in {dt:.2f} s -> {args.out}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
