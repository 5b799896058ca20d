"""Independent helpers for ferry's end-to-end tests (Python standard library only).

Nothing here shares code or assumptions with ferry itself:

- compare_trees(): walks two trees with os.scandir/os.lstat on bytes paths and
  lists every difference (type, content by hashlib, mode, uid, gid, mtime in
  nanoseconds, symlink targets as bytes, FIFOs), and on request xattrs/ACLs,
  hard-link groups (link_groups: the same partition of names into inodes on
  both sides) and holes (no file allocating more at b than at a).
- make_tree() and friends: seeded trees with random content, nested folders
  and odd names (spaces, unicode, newline, backslash, non-UTF-8 bytes, 255-byte
  names, deep paths), random modes, owners and nanosecond mtimes.
- run_ferry(): runs the binary named by $FERRY_BIN, captures its output and
  parses --json.
- rsync_itemize(): `rsync -a --dry-run --itemize-changes SRC/ DST/`, a second
  opinion from a tool that has nothing to do with ferry.
- TaskReportFiles: reads a --task-report-dir folder (summary and every part
  of every list); proc_io(): /proc/PID/io of a running ferry.
- wait_for(): the one way a test waits for something (a process to start, a
  file to appear, an execution to reach a status): polls a predicate until a
  deadline, then fails naming what it waited for. Every deadline is scaled by
  TIMEOUT_SCALE (FERRY_E2E_TIMEOUT_SCALE, else 4 for a sanitized binary).
- sanitizer_reports(): AddressSanitizer/UBSan/TSan reports in a process's
  output, printed whole in failure messages (FerryRun.describe()).

A missing prerequisite the suite installs itself (ferry, rsync, setpriv)
fails the test with a message; it never skips.
"""

import atexit
import hashlib
import json
import os
import random
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

FERRY_BIN = os.environ.get("FERRY_BIN", "")


# --------------------------------------------------------------------------
# Waiting, and slow (sanitized) binaries


_SANITIZER_MARKERS = (b"__asan_init", b"__tsan_init", b"__ubsan_handle_", b"__msan_init")
_timeout_scale = None


def sanitized_binary(path=None):
    """Which sanitizers the ferry binary was built with (by its symbols), as
    a list like ['asan', 'ubsan']; [] for a plain build."""
    path = path or FERRY_BIN
    found = []
    try:
        import mmap
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            for marker, name in zip(_SANITIZER_MARKERS, ("asan", "tsan", "ubsan", "msan")):
                if m.find(marker) != -1:
                    found.append(name)
    except (OSError, ValueError):
        pass
    return found


def timeout_scale():
    """How much longer than usual waits may take: $FERRY_E2E_TIMEOUT_SCALE,
    else 4 when the binary is sanitized (ASan/TSan make it several times
    slower), else 1."""
    global _timeout_scale
    if _timeout_scale is None:
        env = os.environ.get("FERRY_E2E_TIMEOUT_SCALE")
        if env:
            _timeout_scale = float(env)
        else:
            _timeout_scale = 4.0 if sanitized_binary() else 1.0
    return _timeout_scale


def scaled(seconds):
    """A timeout that bounds a wait, stretched for a slow binary."""
    return seconds * timeout_scale()


def wait_for(predicate, timeout, interval=0.1, what="condition", details=None):
    """Calls predicate() until it returns something true; returns that. After
    `timeout` seconds (scaled(): generous under sanitizers) raises
    AssertionError naming `what`, the last exception predicate() raised, and
    details() if given. An AssertionError from predicate() (a process that
    died, say) is raised at once."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = predicate()
            if v:
                return v
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - reported below
            last_exc = e
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout:g} s waiting for {what}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            if details is not None:
                msg += "\n" + details()
            raise AssertionError(msg)
        time.sleep(interval)


# The first line of a sanitizer report: ASan/LSan, TSan, UBSan.
_SANITIZER_START = re.compile(
    r"^(?:==\d+==ERROR: \w*Sanitizer|WARNING: ThreadSanitizer|\S.*?: runtime error: )", re.M)


def sanitizer_reports(text):
    """The sanitizer reports in a process's output (from the first report's
    first line to the end), or "" when there is none."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    m = _SANITIZER_START.search(text or "")
    return text[m.start():] if m else ""


def change_and_delete(root, changed, deleted):
    """A change of content at the same size (and a later mtime) of `changed`
    and the removal of `deleted`, both beneath `root`: what a re-run must
    carry."""
    path = os.path.join(root, changed)
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"CHANGED")
    bump_mtime(path)
    os.unlink(os.path.join(root, deleted))


def read_env(path):
    """A test server's env file (KEY=VALUE lines; values may hold '&')."""
    out = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep:
                out[k] = v
    return out


def server_env(state_var, script, name, prepare=None):
    """The env of a test server script (tests/support/NAME.sh): the one the
    ctest fixture started, in $STATE_VAR; or, with it unset (a module run by
    hand), one started here in a temporary folder and stopped at exit.
    `prepare(base)` readies that folder before the start."""
    state = os.environ.get(state_var)
    if not state:
        base = tempfile.mkdtemp(prefix=f"ferry-{name}-")
        if prepare:
            prepare(base)
        state = os.path.join(base, "state")

        def stop():
            subprocess.run(["bash", script, "stop", state], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
            shutil.rmtree(base, ignore_errors=True)

        atexit.register(stop)
        p = subprocess.run(["bash", script, "start", state], capture_output=True,
                           text=True, errors="replace", stdin=subprocess.DEVNULL,
                           timeout=300)
        if p.returncode != 0:
            raise AssertionError(f"{name}.sh start failed ({p.returncode}):\n{p.stderr}")
    env_file = os.path.join(state, "env")
    if not os.path.isfile(env_file):
        raise AssertionError(f"{state_var}={state} but {env_file} does not exist: "
                             f"the {name} fixture failed or did not run")
    return read_env(env_file)


def describe_output(name, text, limit=4000):
    """The end of a process's output for a failure message; a sanitizer report
    in it is shown whole (up to 40,000 characters) however long it is."""
    report = sanitizer_reports(text)
    if report:
        return f"--- {name}: SANITIZER REPORT ---\n{report[:40000]}"
    return f"--- {name} ---\n{text[-limit:]}"

# Odd names every generated tree can carry (bytes, as the kernel sees them).
ODD_NAMES = [
    b"with space",
    b" leading and trailing space ",
    "ünïcødé-日本語-😀".encode("utf-8"),
    b"new\nline",
    b"tab\tname",
    b"back\\slash",
    b"\xff\xfe-not-utf8-\xe9",
    b"-leading-dash",
    b"star*and?question",
    b"pipe|name",
    b".hidden",
    b"a" * 255,
    "é".encode("utf-8") * 127 + b"x",  # 255 bytes, 128 characters
]


# --------------------------------------------------------------------------
# Temporary directories


def _roomy(path, min_bytes=2 << 30, min_inodes=200_000):
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize >= min_bytes and (st.f_files == 0 or
                                                       st.f_favail >= min_inodes)


def scratch_base():
    """Where scratch trees live: $FERRY_E2E_TMP if set, else /dev/shm when it
    exists and has room (fast; it is shared with other users of the machine),
    else the system's temporary directory."""
    env = os.environ.get("FERRY_E2E_TMP")
    if env:
        return env
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) and _roomy("/dev/shm"):
        return "/dev/shm"
    return None


def _force_rmtree(path):
    """Removes a scratch tree, whatever modes the tests left in it."""
    if not os.path.lexists(path):
        return
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    for top, dirs, _ in os.walk(path):
        for d in dirs:  # before os.walk descends into them
            p = os.path.join(top, d)
            if not os.path.islink(p):
                try:
                    os.chmod(p, 0o700)
                except OSError:
                    pass
    shutil.rmtree(path, ignore_errors=True)


def make_scratch(testcase, prefix="ferry-e2e-"):
    """A fresh directory removed when `testcase` ends."""
    path = tempfile.mkdtemp(prefix=prefix, dir=scratch_base())
    testcase.addCleanup(_force_rmtree, path)
    return path


# --------------------------------------------------------------------------
# Walking and comparing


def _join(a, b):
    return os.path.join(os.fsencode(a), b) if b else os.fsencode(a)


# How much more disk a copy of a sparse file may take than its source (a few
# file system blocks: allocation rounding, not filled holes).
HOLE_SLACK = 16 * 4096

# Paths longer than PATH_MAX (4096) cannot be named whole: such entries are
# reached component by component through directory descriptors.
_LONG = 3800


class _At:
    """(dir_fd, name) naming root/rel, usable with the *at() forms of os calls."""

    def __init__(self, root, rel):
        root = os.fsencode(root)
        full = _join(root, rel)
        self.fd = None
        if len(full) < _LONG or not rel:
            self.name = full
            return
        parts = rel.split(b"/")
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for p in parts[:-1]:
                nfd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.name = parts[-1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
        return False

    def lstat(self):
        return os.lstat(self.name, dir_fd=self.fd)

    def readlink(self):
        return os.readlink(self.name, dir_fd=self.fd)

    def open_fd(self, flags):
        return os.open(self.name, flags | os.O_NOFOLLOW, dir_fd=self.fd)


def lstat_rel(root, rel):
    with _At(root, rel) as at:
        return at.lstat()


def readlink_rel(root, rel):
    with _At(root, rel) as at:
        return at.readlink()


def list_rel(root, rel):
    """Names in the folder root/rel."""
    with _At(root, rel) as at:
        fd = at.open_fd(os.O_RDONLY | os.O_DIRECTORY)
    try:
        return sorted(os.listdir(fd))
    finally:
        os.close(fd)


def walk(root):
    """{relative bytes path: os.stat_result} for everything under root (root itself is b"")."""
    root = os.fsencode(root)
    out = {b"": os.lstat(root)}
    stack = [b""]
    while stack:
        rel = stack.pop()
        for name in list_rel(root, rel):
            name = os.fsencode(name)
            child = os.path.join(rel, name) if rel else name
            st = lstat_rel(root, child)
            out[child] = st
            if stat.S_ISDIR(st.st_mode):
                stack.append(child)
    return out


def _digest_fd(fd, algo):
    h = hashlib.new(algo)
    with os.fdopen(fd, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def file_digest(path, algo="sha256"):
    return _digest_fd(os.open(path, os.O_RDONLY), algo)


def digest_rel(root, rel, algo="sha256"):
    with _At(root, rel) as at:
        return _digest_fd(at.open_fd(os.O_RDONLY), algo)


def kind(st):
    m = st.st_mode
    if stat.S_ISREG(m):
        return "file"
    if stat.S_ISDIR(m):
        return "dir"
    if stat.S_ISLNK(m):
        return "symlink"
    if stat.S_ISFIFO(m):
        return "fifo"
    if stat.S_ISCHR(m):
        return "chardev"
    if stat.S_ISBLK(m):
        return "blockdev"
    if stat.S_ISSOCK(m):
        return "socket"
    return "unknown"


def show(rel):
    """A readable form of a relative bytes path for messages."""
    return "/" + rel.decode("utf-8", "backslashreplace").replace("\n", "\\n")


def xattrs_rel(root, rel):
    """{name: value} of the extended attributes (ACLs included) of root/rel.
    Paths longer than PATH_MAX are reached through their folder's descriptor."""
    with _At(root, rel) as at:
        path = at.name if at.fd is None else b"/proc/self/fd/%d/%s" % (at.fd, at.name)
        try:
            names = os.listxattr(path, follow_symlinks=False)
        except OSError:
            return {}
        out = {}
        for n in names:
            try:
                out[n] = os.getxattr(path, n, follow_symlinks=False)
            except OSError as e:
                out[n] = f"<unreadable: {e.strerror}>"
        return out


def compare_entry(a_root, b_root, rel, sa, sb, *, mode=True, uid=True, gid=True, mtime=True,
                  atime=False, content=True, xattrs=False, holes=False,
                  hole_slack=HOLE_SLACK):
    """Differences between one entry on both sides (both exist). `holes`: a
    regular file at b may not occupy more than `hole_slack` bytes of disk
    beyond what it occupies at a (holes kept, not filled with zeros)."""
    diffs = []
    name = show(rel)
    ka, kb = kind(sa), kind(sb)
    if ka != kb:
        return [f"{name}: type {ka} != {kb}"]
    if ka == "file":
        if sa.st_size != sb.st_size:
            diffs.append(f"{name}: size {sa.st_size} != {sb.st_size}")
        elif content:
            da = digest_rel(a_root, rel)
            db = digest_rel(b_root, rel)
            if da != db:
                diffs.append(f"{name}: content sha256 {da} != {db}")
    if ka == "symlink":
        ta = readlink_rel(a_root, rel)
        tb = readlink_rel(b_root, rel)
        if ta != tb:
            diffs.append(f"{name}: link target {ta!r} != {tb!r}")
    if ka in ("chardev", "blockdev") and sa.st_rdev != sb.st_rdev:
        diffs.append(f"{name}: rdev {sa.st_rdev} != {sb.st_rdev}")
    if mode and ka != "symlink" and stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
        diffs.append(f"{name}: mode {stat.S_IMODE(sa.st_mode):04o} != "
                     f"{stat.S_IMODE(sb.st_mode):04o}")
    if uid and sa.st_uid != sb.st_uid:
        diffs.append(f"{name}: uid {sa.st_uid} != {sb.st_uid}")
    if gid and sa.st_gid != sb.st_gid:
        diffs.append(f"{name}: gid {sa.st_gid} != {sb.st_gid}")
    if mtime and sa.st_mtime_ns != sb.st_mtime_ns:
        diffs.append(f"{name}: mtime_ns {sa.st_mtime_ns} != {sb.st_mtime_ns}")
    if atime and ka != "dir" and sa.st_atime_ns != sb.st_atime_ns:
        diffs.append(f"{name}: atime_ns {sa.st_atime_ns} != {sb.st_atime_ns}")
    if xattrs:
        xa, xb = xattrs_rel(a_root, rel), xattrs_rel(b_root, rel)
        if xa != xb:
            diffs.append(f"{name}: xattrs {xa!r} != {xb!r}")
    if holes and ka == "file" and sb.st_blocks * 512 > sa.st_blocks * 512 + hole_slack:
        diffs.append(f"{name}: {sb.st_blocks * 512} bytes allocated, more than "
                     f"{sa.st_blocks * 512} (+{hole_slack}): holes filled")
    return diffs


def compare_trees(a, b, *, mode=True, uid=True, gid=True, mtime=True, atime=False,
                  content=True, root=True, ignore=None, xattrs=False, links=False,
                  holes=False):
    """Every difference between trees a and b, as a list of readable strings.

    Empty means identical in types, content, symlink targets and the metadata
    asked for. `root` also compares the two top folders' own metadata.
    `ignore(rel_bytes) -> bool` leaves paths out (on both sides).
    `links`: the same hard-link groups on both sides (see compare_link_groups);
    `holes`: no file at b allocates more than at a (see compare_entry)."""
    wa, wb = walk(a), walk(b)
    if ignore:
        wa = {k: v for k, v in wa.items() if k == b"" or not ignore(k)}
        wb = {k: v for k, v in wb.items() if k == b"" or not ignore(k)}
    diffs = []
    for rel in sorted(set(wa) | set(wb)):
        if rel not in wb:
            diffs.append(f"{show(rel)}: only in {os.fsdecode(a)}")
            continue
        if rel not in wa:
            diffs.append(f"{show(rel)}: only in {os.fsdecode(b)}")
            continue
        if rel == b"" and not root:
            continue
        diffs.extend(compare_entry(a, b, rel, wa[rel], wb[rel], mode=mode, uid=uid, gid=gid,
                                   mtime=mtime, atime=atime, content=content, xattrs=xattrs,
                                   holes=holes))
    if links:
        diffs.extend(compare_link_groups(wa, wb))
    return diffs


def link_groups(walked):
    """Hard-link groups of a walked tree ({rel: stat} from walk()): the set of
    frozensets of relative paths of the non-folders sharing one inode, for
    inodes with more than one name in the tree."""
    by_inode = {}
    for rel, st in walked.items():
        if rel and not stat.S_ISDIR(st.st_mode):
            by_inode.setdefault((st.st_dev, st.st_ino), []).append(rel)
    return {frozenset(names) for names in by_inode.values() if len(names) > 1}


def compare_link_groups(wa, wb):
    """Differences between the hard-link partitions of two walked trees: the
    names must fall into the same inode groups on both sides (and names that
    are single at a must be single at b)."""
    ga, gb = link_groups(wa), link_groups(wb)
    diffs = []

    def fmt(group):
        return "{" + ", ".join(sorted(show(r) for r in group)) + "}"

    for g in sorted(ga - gb, key=sorted):
        diffs.append(f"hard-link group {fmt(g)} not kept at the destination")
    for g in sorted(gb - ga, key=sorted):
        diffs.append(f"hard-link group {fmt(g)} at the destination is not one at the source")
    return diffs


def tree_stats(root, *, ignore=None):
    """Counts of a tree as DataSync counts it: Files* are non-folders, Folders*
    are folders, the root folder included. Bytes are the regular files' sizes."""
    w = walk(root)
    files = folders = nbytes = 0
    for rel, st in w.items():
        if ignore and rel and ignore(rel):
            continue
        if stat.S_ISDIR(st.st_mode):
            folders += 1
        else:
            files += 1
            if stat.S_ISREG(st.st_mode):
                nbytes += st.st_size
    return {"files": files, "folders": folders, "bytes": nbytes}


def snapshot(root):
    """{rel: (kind, mode, uid, gid, mtime_ns, size, sha256-or-target)} of a tree."""
    out = {}
    for rel, st in walk(root).items():
        k = kind(st)
        extra = None
        if k == "file":
            extra = digest_rel(root, rel)
        elif k == "symlink":
            extra = readlink_rel(root, rel)
        out[rel] = (k, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns,
                    st.st_size if k == "file" else 0, extra)
    return out


def differing_paths(src, dst, **kw):
    """The set of relative paths (bytes) at the source that differ from, or are
    missing at, the destination: what a CHANGED transfer has to send."""
    ws, wd = walk(src), walk(dst)
    out = set()
    for rel, ss in ws.items():
        sd = wd.get(rel)
        if sd is None or compare_entry(src, dst, rel, ss, sd, **kw):
            out.add(rel)
    return out


# --------------------------------------------------------------------------
# Generating trees


def is_root():
    return os.geteuid() == 0


def write_file(path, data, *, mode=None, mtime_ns=None, owner=None):
    with open(path, "wb") as f:
        f.write(data)
    if owner is not None:
        os.lchown(path, *owner)
    if mode is not None:
        os.chmod(path, mode)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def set_times(path, mtime_ns, atime_ns=None):
    """Sets times without following symlinks."""
    os.utime(path, ns=(atime_ns if atime_ns is not None else mtime_ns, mtime_ns),
             follow_symlinks=False)


def random_mtime_ns(rng):
    """Some time in the past, with a nonzero nanosecond part."""
    sec = rng.randrange(1_000_000_000, 1_700_000_000)
    return sec * 1_000_000_000 + rng.randrange(1, 1_000_000_000)


def make_tree(root, seed, *, files=40, dirs=8, max_size=64 * 1024, odd_names=True,
              deep=True, symlinks=True, fifos=True, empty_files=True, owners=True,
              modes=True):
    """Fills `root` (created if needed) with a reproducible random tree.

    Returns {"files": n_non_folders, "folders": n_folders_incl_root,
    "bytes": total regular-file bytes}."""
    rng = random.Random(seed)
    root = os.fsencode(root)
    os.makedirs(root, exist_ok=True)
    dir_list = [b""]
    for i in range(dirs):
        parent = rng.choice(dir_list)
        name = b"dir%02d" % i
        if odd_names and i % 3 == 1:
            name = rng.choice(ODD_NAMES[:10]) + b"-d%d" % i
        rel = os.path.join(parent, name) if parent else name
        os.mkdir(os.path.join(root, rel))
        dir_list.append(rel)
    if deep:
        rel = b""
        for level in range(18):
            rel = os.path.join(rel, b"deep%02d-" % level + b"p" * 48) if rel else b"deep00"
            os.mkdir(os.path.join(root, rel))
            dir_list.append(rel)
        # A 255-byte name at the bottom: the path is ~1000 bytes long.
        write_file(os.path.join(root, rel, b"z" * 255), b"at the bottom\n")
    names = []
    if odd_names:
        names.extend(ODD_NAMES)
    while len(names) < files:
        names.append(b"file%03d.%s" % (len(names), rng.choice([b"txt", b"bin", b"dat", b"log"])))
    for i, name in enumerate(names):
        parent = rng.choice(dir_list)
        path = os.path.join(root, parent, name) if parent else os.path.join(root, name)
        if os.path.lexists(path):
            path = path + b".%d" % i
        if empty_files and i % 11 == 5:
            size = 0
        else:
            size = rng.randrange(0, max_size + 1)
        data = rng.randbytes(size)
        mode = rng.choice([0o644, 0o600, 0o640, 0o755, 0o444, 0o664]) if modes else 0o644
        owner = None
        if owners and is_root():
            owner = (rng.choice([0, 1000, 1001, 4242]), rng.choice([0, 100, 1000, 4243]))
        write_file(path, data, mode=mode, owner=owner, mtime_ns=random_mtime_ns(rng))
    if symlinks:
        links = [
            (b"link-to-file", b"dir00/../" + names[-1] if dirs else names[-1]),
            (b"link-dangling", b"does/not/exist"),
            (b"link-absolute", b"/etc"),
            (b"link-\xff-bytes", b"target-\xfe\n-odd"),
        ]
        for name, target in links:
            parent = rng.choice(dir_list)
            path = os.path.join(root, parent, name) if parent else os.path.join(root, name)
            os.symlink(target, path)
            if owners and is_root():
                os.lchown(path, 1000, 1000)
            set_times(path, random_mtime_ns(rng))
    if fifos:
        parent = rng.choice(dir_list)
        path = os.path.join(root, parent, b"a-fifo") if parent else os.path.join(root, b"a-fifo")
        os.mkfifo(path, 0o640)
        set_times(path, random_mtime_ns(rng))
    # Folder metadata last, deepest first (creating children changed their mtimes).
    for rel in sorted(dir_list, key=lambda r: -r.count(b"/") - (1 if r else 0)):
        path = os.path.join(root, rel) if rel else root
        if modes and rel:
            os.chmod(path, rng.choice([0o755, 0o750, 0o700, 0o775]))
        if owners and is_root() and rel:
            os.lchown(path, rng.choice([0, 1000, 4242]), rng.choice([0, 1000, 4243]))
        set_times(path, random_mtime_ns(rng))
    return tree_stats(root)


def make_flat_tree(root, n, size, seed=1, prefix="f"):
    """n files of `size` random bytes directly under root."""
    rng = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    for i in range(n):
        write_file(os.path.join(root, f"{prefix}{i:04d}"), rng.randbytes(size),
                   mtime_ns=random_mtime_ns(rng))
    return tree_stats(root)


def bump_mtime(path, delta_ns=1_000_000_007):
    """Moves mtime (not following links) by delta_ns, keeping atime."""
    st = os.lstat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + delta_ns), follow_symlinks=False)


def keep_dir_mtime(path):
    """Context manager: restores a folder's times after changing its entries."""

    class _Keep:
        def __enter__(self):
            self.st = os.lstat(path)
            return self

        def __exit__(self, *exc):
            os.utime(path, ns=(self.st.st_atime_ns, self.st.st_mtime_ns))
            return False

    return _Keep()


# --------------------------------------------------------------------------
# Running ferry and rsync


class FerryRun:
    def __init__(self, args, proc):
        self.args = args
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.json = None
        self.json_error = None
        if "--json" in args:
            try:
                self.json = json.loads(proc.stdout)
            except ValueError as e:
                self.json_error = str(e)

    def __getitem__(self, key):
        """run["FilesListed.AtSource"] -> the nested JSON value."""
        if self.json is None:
            raise AssertionError(f"no JSON from ferry ({self.json_error}): {self.describe()}")
        v = self.json
        for part in key.split("."):
            v = v[part]
        return v

    @property
    def status(self):
        return self["Status"]

    def describe(self):
        return (f"ferry {' '.join(map(repr, self.args))} -> rc={self.rc}\n"
                + describe_output("stdout", self.stdout) + "\n"
                + describe_output("stderr", self.stderr))


def ferry_cmd():
    """[the ferry binary]; fails (never skips) when FERRY_BIN is not set or
    not an executable."""
    if not FERRY_BIN:
        raise AssertionError("FERRY_BIN is not set: point it at the ferry binary to test "
                             "(e.g. FERRY_BIN=$PWD/build/ferry)")
    if not os.access(FERRY_BIN, os.X_OK):
        raise AssertionError(f"FERRY_BIN={FERRY_BIN} is not an executable file")
    return [FERRY_BIN]


def run_ferry(*args, json_out=True, timeout=120, prefix=(), env=None, ferry=None):
    """Runs `ferry ARGS...` (adds --json for sync unless json_out is False).
    `prefix` is prepended (e.g. setpriv ...); `ferry` replaces the binary
    (a copy nobody can run: as_nobody()). The timeout is scaled(). A
    sanitizer report on stderr fails at once, whatever the exit status."""
    args = [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args]
    if json_out and args and args[0] == "sync" and "--json" not in args:
        args.append("--json")
    cmd = [ferry] if ferry else ferry_cmd()
    proc = subprocess.run(list(prefix) + cmd + args, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace",
                          timeout=scaled(timeout), env=env)
    run = FerryRun(args, proc)
    if sanitizer_reports(run.stderr):  # whatever the exit status the test expects
        raise AssertionError("ferry reported a sanitizer error: " + run.describe())
    return run


def sync(src, dst, *opts, **kw):
    return run_ferry("sync", src, dst, *opts, **kw)


def rsync_itemize(src, dst, extra=()):
    """What `rsync -a --dry-run --itemize-changes SRC/ DST/` would change (lines)."""
    if shutil.which("rsync") is None:
        raise AssertionError("rsync is not installed (scripts/setup.sh installs it)")
    s = os.fsencode(src).rstrip(b"/") + b"/"
    d = os.fsencode(dst).rstrip(b"/") + b"/"
    proc = subprocess.run([b"rsync", b"-a", b"--dry-run", b"--itemize-changes", *extra, s, d],
                          capture_output=True, timeout=scaled(120))
    if proc.returncode != 0:
        raise AssertionError(f"rsync failed rc={proc.returncode}: {proc.stderr!r}")
    return [line for line in proc.stdout.decode("utf-8", "backslashreplace").splitlines()
            if line.strip()]


def read_log(path):
    """The JSON-lines log written by --log-file, as a list of dicts."""
    out = []
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def display_path(rel):
    """The way ferry's log shows a relative bytes path: "/" + the path with
    backslash, newline, tab, CR escaped, other control bytes and bytes that are
    not valid UTF-8 as \\xHH (uppercase)."""
    out = []
    text = rel.decode("utf-8", "surrogateescape")
    for ch in text:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif 0xDC80 <= o <= 0xDCFF:  # an undecodable byte
            out.append("\\x%02X" % (o - 0xDC00))
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02X" % o)
        else:
            out.append(ch)
    return "/" + "".join(out)


# --------------------------------------------------------------------------
# Running as an unprivileged user


def unprivileged_prefix():
    """A command prefix that runs as nobody (65534), or None if none works."""
    if os.geteuid() != 0:
        return []  # already unprivileged
    candidates = []
    if shutil.which("setpriv"):
        candidates.append(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    if shutil.which("runuser"):
        candidates.append(["runuser", "-u", "nobody", "--"])
    for c in candidates:
        try:
            p = subprocess.run(c + ["id", "-u"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if p.returncode == 0 and p.stdout.strip() == "65534":
            return c
    return None


_NOBODY_COPY = None
_AS_NOBODY = None


def _remove_nobody_copy():
    if _NOBODY_COPY:
        _force_rmtree(os.path.dirname(_NOBODY_COPY))


def as_nobody():
    """{'prefix': [...], 'ferry': path}: run_ferry()/sync() keywords that run
    ferry as nobody. When nobody cannot run $FERRY_BIN where it is (a build
    under a 0700 home), a copy in a world-readable scratch folder is used.
    Fails (never skips) when nothing works: setpriv and runuser come with
    util-linux."""
    global _NOBODY_COPY, _AS_NOBODY
    if _AS_NOBODY is not None:
        return dict(_AS_NOBODY)
    prefix = unprivileged_prefix()
    if prefix is None:
        raise AssertionError("cannot run a command as nobody: neither `setpriv --reuid=65534` "
                             "nor `runuser -u nobody` works here (util-linux)")
    binary = ferry_cmd()[0]

    def runs(path):
        p = subprocess.run(prefix + [path, "--version"], capture_output=True, text=True,
                           timeout=scaled(30))
        return p

    p = runs(binary)
    if p.returncode != 0:
        if _NOBODY_COPY is None:
            folder = tempfile.mkdtemp(prefix="ferry-e2e-bin-", dir=scratch_base())
            os.chmod(folder, 0o755)
            copy = os.path.join(folder, "ferry")
            shutil.copy2(binary, copy)
            os.chmod(copy, 0o755)
            _NOBODY_COPY = copy
            atexit.register(_remove_nobody_copy)
        binary = _NOBODY_COPY
        p = runs(binary)
        if p.returncode != 0:
            raise AssertionError(f"nobody cannot run ferry (even copied to {binary}): "
                                 f"rc={p.returncode}\n{p.stderr[-2000:]}")
    _AS_NOBODY = {"prefix": prefix, "ferry": binary}
    return dict(_AS_NOBODY)


# --------------------------------------------------------------------------
# A base class for the tests


class FerryTestCase(unittest.TestCase):
    maxDiff = None

    def scratch(self, name=None):
        base = make_scratch(self)
        return os.path.join(base, name) if name else base

    def assertSuccess(self, run):
        self.assertEqual(run.rc, 0, run.describe())
        if run.json is not None:
            self.assertEqual(run["Status"], "SUCCESS", run.describe())

    def assertTreesEqual(self, src, dst, **kw):
        diffs = compare_trees(src, dst, **kw)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))

    def assertRsyncClean(self, src, dst):
        lines = rsync_itemize(src, dst)
        self.assertEqual(lines, [], "rsync would still change:\n" + "\n".join(lines[:50]))

    def assertNoFailures(self, run):
        for key in ("FilesFailed.Prepare", "FilesFailed.Transfer", "FilesFailed.Verify",
                    "FilesFailed.Delete", "FoldersFailed.Prepare", "FoldersFailed.Transfer",
                    "FoldersFailed.Verify", "FoldersFailed.Delete"):
            self.assertEqual(run[key], 0, key)


def make_long_path(root, depth=30, name_len=200, content=b"far down\n"):
    """Folders `depth` deep with `name_len`-byte names and a file at the
    bottom, made through directory descriptors: the path can be longer than
    PATH_MAX. Returns the file's relative path."""
    fd = os.open(os.fsencode(root), os.O_RDONLY | os.O_DIRECTORY)
    parts = []
    try:
        for i in range(depth):
            name = (b"L%02d-" % i) + b"n" * (name_len - 4)
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
            parts.append(name)
        wfd = os.open(b"bottom.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640, dir_fd=fd)
        with os.fdopen(wfd, "wb") as f:
            f.write(content)
        os.utime(b"bottom.txt", ns=(1_234_567_890_000_000_001, 1_234_567_890_000_000_001),
                 dir_fd=fd)
        parts.append(b"bottom.txt")
    finally:
        os.close(fd)
    return b"/".join(parts)


# --------------------------------------------------------------------------
# Task reports


REPORT_CATEGORIES = {"transferred": "Transferred", "verified": "Verified",
                     "skipped": "Skipped", "deleted": "Deleted"}
REPORT_PART_LIMIT = 5_000_000  # bytes per list file, as DataSync


class TaskReportFiles:
    """What --task-report-dir DIR left for one execution: DIR/<exec-id>/...

    .summary: the parsed summary; .lists[category]: the records of every part,
    in order; .parts[category]: [(file name, size in bytes, record count)];
    .names: every file name in the execution's folder."""

    def __init__(self, report_dir):
        entries = os.listdir(report_dir)
        if len(entries) != 1 or not entries[0].startswith("exec-"):
            raise AssertionError(f"expected one exec-* folder in {report_dir}: {entries}")
        self.id = entries[0]
        self.folder = os.path.join(report_dir, self.id)
        self.names = sorted(os.listdir(self.folder))
        with open(os.path.join(self.folder, f"{self.id}.summary-v1.json"), "rb") as f:
            self.summary = json.loads(f.read())
        self.lists = {}
        self.parts = {}
        self.arns = set()
        for cat, key in REPORT_CATEGORIES.items():
            self.lists[cat] = []
            self.parts[cat] = []
            n = 1
            while True:
                name = f"{self.id}.files-{cat}-v1-{n:05d}.json"
                path = os.path.join(self.folder, name)
                if not os.path.exists(path):
                    break
                with open(path, "rb") as f:
                    raw = f.read()
                doc = json.loads(raw)  # raises on invalid JSON
                if set(doc) != {"TaskExecutionArn", key}:
                    raise AssertionError(f"{name}: keys {sorted(doc)}")
                self.arns.add(doc["TaskExecutionArn"])
                self.lists[cat].extend(doc[key])
                self.parts[cat].append((name, len(raw), len(doc[key])))
                n += 1

    def by_path(self, cat):
        """{RelativePath: record} of one category (asserting paths are unique)."""
        out = {}
        for rec in self.lists[cat]:
            p = rec["RelativePath"]
            if p in out:
                raise AssertionError(f"{cat}: {p!r} listed twice")
            out[p] = rec
        return out


# --------------------------------------------------------------------------
# Watching a running process


def proc_io(pid):
    """{'rchar': .., 'wchar': .., 'read_bytes': .., 'write_bytes': ..} of a live
    process from /proc/PID/io, or None once it is gone (or unreadable)."""
    try:
        with open(f"/proc/{pid}/io") as f:
            return {k: int(v) for k, v in (line.split(":") for line in f if ":" in line)}
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------
# What the scratch file system supports


def user_xattrs_supported(directory):
    """Whether files in `directory` take user.* extended attributes."""
    probe = os.path.join(directory, ".xattr-probe")
    with open(probe, "wb"):
        pass
    try:
        os.setxattr(probe, b"user.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        os.unlink(probe)


def acls_supported(directory):
    """Whether files in `directory` take POSIX ACLs. A missing setfacl is a
    failure (scripts/setup.sh installs acl), not a reason to leave ACLs out."""
    if shutil.which("setfacl") is None:
        raise AssertionError("setfacl is not installed (scripts/setup.sh installs acl)")
    probe = os.path.join(directory, ".acl-probe")
    with open(probe, "wb"):
        pass
    try:
        return subprocess.run(["setfacl", "-m", "u:4321:r", probe], capture_output=True,
                              timeout=30).returncode == 0
    finally:
        os.unlink(probe)
