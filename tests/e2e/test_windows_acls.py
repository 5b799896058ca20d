"""End-to-end: Windows security descriptors (owner and DACL) copied share to
share by `ferry sync`, as DataSync's SecurityDescriptorCopyFlags say.

libsmbclient reads and writes security descriptors over a second connection,
to the server's IPC$ share on port 445 whatever port a location names. So
this module runs a Samba smbd of its own on port 445 inside a private network
namespace that holds only `lo` (this process enters it first, before any
thread or process starts; everything it starts inherits it), with the share's
security descriptors kept as set (samba.sh FERRY_SMB_NT_ACLS=1: acl_xattr).

OWNER_DACL (the default) copies the owner and every ACE of files and
folders, checked with smbcacls; a no-change re-run transfers nothing; a
DACL changed alone at the source is carried; NONE leaves the destination's
own; OWNER_DACL_SACL is refused, saying why (libsmbclient has no SACLs).

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_windows_acls
"""

import atexit
import os
import subprocess

import nfs
import oracle
from oracle import FerryTestCase
import test_smb_sync as smb

SID = "S-1-5-21-1111-2222-3333-1001"  # an account of some Windows domain


def setUpModule():
    ns = f"ferryacl{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    atexit.register(subprocess.run, ["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True,
                   capture_output=True)
    nfs.enter_namespace(ns)
    # The module's own smbd, in the namespace, on 445 (not the fixture's).
    os.environ.pop("FERRY_TEST_SMB_STATE", None)
    os.environ["FERRY_SMB_PORT"] = "445"
    os.environ["FERRY_SMB_NT_ACLS"] = "1"
    smb.setUpModule()


def url(folder):
    return smb.smb_url(folder, host="127.0.0.1")  # no port: 445


def cacls(path, *change):
    """smbcacls of a path of the share: its descriptor as lines (--numeric,
    the group left out: ferry copies owner and DACL), or a change."""
    p = subprocess.run(
        ["smbcacls", f"//127.0.0.1/{smb.SMB['FERRY_TEST_SMB_SHARE']}", path,
         "-U", f"{smb.SMB['FERRY_TEST_SMB_USER']}%{smb.SMB['FERRY_TEST_SMB_PASSWORD']}",
         "--numeric", *change],
        capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"smbcacls {path} {change}: {p.stdout}{p.stderr}")
    return sorted(line for line in p.stdout.splitlines()
                  if line.startswith(("OWNER:", "ACL:")))


def settle_creation_times(root):
    """Samba reports a creation time it has not stored (a file made on the
    server's disk, not over SMB) as the earliest of ctime, mtime and atime:
    reading a file whose atime is older than its mtime moves it forward.
    Each entry under root gets its atime set to its mtime, so what ferry's
    scan reads is what its verification reads (CI failed once on a second
    boundary between a file's creation and its write)."""
    paths = [root]
    for d, dirs, files in os.walk(root):
        paths += [os.path.join(d, name) for name in dirs + files]
    for path in paths:
        mtime = os.lstat(path).st_mtime_ns
        os.utime(path, ns=(mtime, mtime), follow_symlinks=False)


class WindowsAcls(FerryTestCase):
    def source(self):
        src = smb.fresh_folder(self)
        os.makedirs(os.path.join(smb.on_share(src), "dir"))
        for name in ("a.txt", "dir/b.txt", "plain.txt"):
            oracle.write_file(os.path.join(smb.on_share(src), name), name.encode())
        cacls(f"{src}/a.txt", "--add", f"ACL:{SID}:ALLOWED/0/READ")
        cacls(f"{src}/a.txt", "--chown", SID)
        cacls(f"{src}/dir", "--add", f"ACL:{SID}:DENIED/0x3/W")  # inherited
        settle_creation_times(smb.on_share(src))
        return src

    def test_owner_and_dacl_are_copied_and_kept_in_step(self):
        src, dst = self.source(), smb.fresh_folder(self)
        names = ["a.txt", "dir", "dir/b.txt", "plain.txt"]
        self.assertIn(f"OWNER:{SID}", cacls(f"{src}/a.txt"))
        r = smb.run(url(src), url(dst))
        self.assertSuccess(r)
        self.assertNoFailures(r)
        for name in names:
            self.assertEqual(cacls(f"{dst}/{name}"), cacls(f"{src}/{name}"), name)

        again = smb.run(url(src), url(dst))
        self.assertSuccess(again)
        self.assertEqual(again["FilesTransferred"], 0, again.describe())

        # A DACL changed alone (the content as it was) is carried.
        cacls(f"{src}/plain.txt", "--add", f"ACL:{SID}:ALLOWED/0/FULL")
        third = smb.run(url(src), url(dst))
        self.assertSuccess(third)
        self.assertNoFailures(third)
        self.assertEqual(cacls(f"{dst}/plain.txt"), cacls(f"{src}/plain.txt"))
        self.assertTrue(any(SID in line for line in cacls(f"{dst}/plain.txt")))

    def test_none_leaves_the_destinations_own(self):
        src, dst = self.source(), smb.fresh_folder(self)
        r = smb.run(url(src), url(dst), "--security-descriptor-copy-flags", "NONE")
        self.assertSuccess(r)
        self.assertNoFailures(r)
        with open(os.path.join(smb.on_share(dst), "a.txt"), "rb") as f:
            self.assertEqual(f.read(), b"a.txt")
        self.assertFalse(any(SID in line for line in cacls(f"{dst}/a.txt")))

    def test_owner_dacl_sacl_is_refused_saying_why(self):
        src, dst = self.source(), smb.fresh_folder(self)
        r = smb.run(url(src), url(dst), "--security-descriptor-copy-flags",
                    "OWNER_DACL_SACL")
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertIn("OWNER_DACL_SACL", r.stdout + r.stderr)
        self.assertIn("SACL", r.stdout + r.stderr)
        self.assertFalse(os.path.exists(os.path.join(smb.on_share(dst), "a.txt")))


if __name__ == "__main__":
    import unittest
    unittest.main()
