"""The NFS end-to-end modules' side of tests/support/nfs.sh (NFS-Ganesha with
rpcbind in a private network namespace that holds only `lo`).

    nfs.setUpModule()        # first thing in a module's setUpModule
    nfs.url("dir")           # nfs://127.0.0.1/export/dir
    nfs.on_export("dir")     # that folder on this machine's disk
    nfs.compare(a, b)        # differences, times to the microsecond

setUpModule() reads $FERRY_TEST_NFS_STATE/env (the ferry_nfs fixture of
ctest; a missing file fails: the fixture failed), or, when the variable is
unset, starts a server of the module's own in a temporary folder and stops
it at exit. Then it moves this process into the server's network namespace
(setns(2) on the main thread, before any thread or process is started), so
that every process the tests start (ferry sync, ferry server and agent,
the aws CLI, samba.sh, nfs-ls) inherits it: nothing outside it can reach
the server, and the server's rpcbind listens on nothing else.

Files are changed only through NFS while ganesha serves them (its cache
does not expect changes behind its back): every test writes into a fresh
folder of a random name, read on disk or through nfs-ls, and left for the
server's stop to remove.

Server(state) is a server of a test's own (one it may kill: `down`, `up`),
started with nfs.sh start; its clients run in its namespace through
`nfs.sh exec` (exec_prefix()).
"""

import atexit
import ctypes
import os
import shutil
import stat
import subprocess
import tempfile

import oracle
from test_smb_sync import read_env, strays  # noqa: F401 - strays: for the modules

HERE = os.path.dirname(os.path.abspath(__file__))
NFS_SH = os.path.join(HERE, "..", "support", "nfs.sh")
CLONE_NEWNET = 0x40000000
NFS = None  # the shared server's env (FERRY_TEST_NFS_*)
OWN = None  # the Server this module started itself (run by hand), or None
_ENTERED = None
# NFS-Ganesha 4.3's VFS FSAL answers an NFSv3 SETATTR of a symbolic link's
# times with NFS3_OK and leaves them as they are (libnfs's own nfs_lutimes
# shows it, without ferry): a link written to the export has the time it
# was made, whatever the client asks. Comparisons of a tree that went
# through the export pass link_times=LINK_TIMES_KEPT; links read from it
# must still have the export's times.
LINK_TIMES_KEPT = False


class Server:
    """One nfs.sh server: `start` writes STATE/env; `down` kills ganesha,
    `up` restarts it, `stop` removes everything."""

    def __init__(self, state):
        self.state = state
        self.env = None

    def sh(self, *args, timeout=120):
        p = subprocess.run(["bash", NFS_SH, args[0], self.state, *args[1:]],
                           capture_output=True, text=True, errors="replace",
                           stdin=subprocess.DEVNULL, timeout=timeout)
        if p.returncode != 0:
            raise AssertionError(f"nfs.sh {' '.join(args)} {self.state} failed "
                                 f"({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
        return p

    def start(self):
        try:
            self.sh("start", timeout=300)
        except AssertionError as e:
            if "another rpcbind is already running" in str(e):
                raise AssertionError(
                    f"{e}\nrpcbind keeps /run/rpcbind.lock and /run/rpcbind.sock for the "
                    "whole machine, whatever its network namespace: another nfs.sh server "
                    "(the ferry_nfs fixture, a module's own, a benchmark's) is running") from None
            raise
        self.env = read_env(os.path.join(self.state, "env"))
        return self

    def stop(self):
        subprocess.run(["bash", NFS_SH, "stop", self.state], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=120)

    def down(self):
        self.sh("down")

    def up(self):
        self.sh("up")

    def ganesha_running(self):
        try:
            with open(os.path.join(self.state, "ganesha.pid")) as f:
                pid = int(f.read())
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, ValueError, IndexError):
            return False

    def exec_prefix(self):
        """A command prefix that runs in this server's namespace."""
        return ["bash", NFS_SH, "exec", self.state]

    def url(self, folder="", export="/export", port=None, query=""):
        host = self.env["FERRY_TEST_NFS_HOST"] + (f":{port}" if port else "")
        return f"nfs://{host}{export}" + (f"/{folder}" if folder else "") + query

    def on_export(self, folder=""):
        return os.path.join(self.env["FERRY_TEST_NFS_DIR"], folder)


def enter_namespace(name):
    """setns(2) of this thread (the main one: call before any thread starts)
    into the network namespace /run/netns/NAME."""
    global _ENTERED
    if _ENTERED == name:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise AssertionError(f"setns({name}) failed: {os.strerror(err)} (run as root)")
    finally:
        os.close(fd)
    _ENTERED = name


def setUpModule():
    """The shared server (the fixture's, else one of the module's own), and
    this process in its namespace. Idempotent."""
    global NFS, OWN
    if NFS is not None:
        enter_namespace(NFS["FERRY_TEST_NFS_NETNS"])
        return
    state = os.environ.get("FERRY_TEST_NFS_STATE")
    if not state:
        base = tempfile.mkdtemp(prefix="ferry-nfs-", dir=oracle.scratch_base())
        server = Server(os.path.join(base, "state"))

        def stop():
            server.stop()
            shutil.rmtree(base, ignore_errors=True)

        atexit.register(stop)
        OWN = server.start()
        state = server.state
    env_file = os.path.join(state, "env")
    if not os.path.isfile(env_file):
        raise AssertionError(f"FERRY_TEST_NFS_STATE={state} but {env_file} does not exist: "
                             "the nfs fixture failed or did not run")
    NFS = read_env(env_file)
    enter_namespace(NFS["FERRY_TEST_NFS_NETNS"])


def private_server(owner):
    """A server no other module uses, that a test may kill: the module's own
    one when it started one (a module run by hand), else a separate nfs.sh
    start in a temporary folder (under ctest the shared one serves other
    modules at the same time). `owner`: a TestCase class (its class
    cleanups stop the server) or a TestCase."""
    if OWN is not None:
        return OWN
    base = tempfile.mkdtemp(prefix="ferry-nfs-own-", dir=oracle.scratch_base())
    add = owner.addClassCleanup if isinstance(owner, type) else owner.addCleanup
    add(shutil.rmtree, base, True)
    server = Server(os.path.join(base, "state"))
    add(server.stop)
    return server.start()


def url(folder="", export=None, host=None, query=""):
    """nfs://HOST/EXPORT[/folder][?query] on the shared server."""
    host = host or NFS["FERRY_TEST_NFS_HOST"]
    export = export or NFS["FERRY_TEST_NFS_EXPORT"]
    return f"nfs://{host}{export}" + (f"/{folder}" if folder else "") + query


def on_export(folder="", squash=False):
    """A folder of the shared server's export (or of the squashed one) on
    this machine's disk."""
    return os.path.join(NFS["FERRY_TEST_NFS_SQUASH_DIR" if squash else "FERRY_TEST_NFS_DIR"],
                        folder)


def fresh_folder():
    """A name no test has used: files are never removed behind ganesha."""
    return "e2e-" + os.urandom(6).hex()


def nfs_ls(location, recursive=False):
    """`nfs-ls [-R] URL` (another NFS client than ferry): (rc, stdout, stderr)."""
    p = subprocess.run(["nfs-ls"] + (["-R"] if recursive else []) + [location],
                       capture_output=True, text=True, errors="replace",
                       stdin=subprocess.DEVNULL, timeout=oracle.scaled(60))
    return p.returncode, p.stdout, p.stderr


def compare(a, b, *, owners=True, modes=True, atimes=False, links=False, root=True,
            link_times=True):
    """Every difference between trees a and b as NFS keeps them: types,
    content, link targets, devices, modes and owners (if asked), hard-link
    groups (if asked), and mtimes (atimes of what is not a folder, if asked)
    to the microsecond; a symlink's times only with link_times (see
    LINK_TIMES_KEPT)."""
    diffs = oracle.compare_trees(a, b, mode=modes, uid=owners, gid=owners, mtime=False,
                                 links=links, root=root)
    wa, wb = oracle.walk(a), oracle.walk(b)
    for rel in sorted(set(wa) & set(wb)):
        sa, sb = wa[rel], wb[rel]
        if (rel == b"" and not root) or (stat.S_ISLNK(sa.st_mode) and not link_times):
            continue
        if sa.st_mtime_ns // 1000 != sb.st_mtime_ns // 1000:
            diffs.append(f"{oracle.show(rel)}: mtime_us {sa.st_mtime_ns // 1000} != "
                         f"{sb.st_mtime_ns // 1000}")
        if atimes and not stat.S_ISDIR(sa.st_mode) and \
                sa.st_atime_ns // 1000 != sb.st_atime_ns // 1000:
            diffs.append(f"{oracle.show(rel)}: atime_us {sa.st_atime_ns // 1000} != "
                         f"{sb.st_atime_ns // 1000}")
    return diffs


def assert_same(testcase, a, b, **kw):
    diffs = compare(a, b, **kw)
    testcase.assertEqual(diffs, [], f"{a} and {b} differ:\n" + "\n".join(diffs[:50]))
