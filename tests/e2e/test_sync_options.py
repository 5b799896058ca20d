"""End-to-end: `ferry sync` options, their validation, filters and output.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_options
"""

import json
import os
import shutil
import stat
import subprocess
import time
import unittest

import oracle
from oracle import FerryTestCase, sync

ENUM_OPTIONS = {
    "VerifyMode": ["POINT_IN_TIME_CONSISTENT", "ONLY_FILES_TRANSFERRED", "NONE"],
    "OverwriteMode": ["ALWAYS", "NEVER"],
    "Atime": ["NONE", "BEST_EFFORT"],
    "Mtime": ["NONE", "PRESERVE"],
    "Uid": ["NONE", "INT_VALUE", "NAME", "BOTH"],
    "Gid": ["NONE", "INT_VALUE", "NAME", "BOTH"],
    "PreserveDeletedFiles": ["PRESERVE", "REMOVE"],
    "PreserveDevices": ["NONE", "PRESERVE"],
    "PosixPermissions": ["NONE", "PRESERVE"],
    "TaskQueueing": ["ENABLED", "DISABLED"],
    "LogLevel": ["OFF", "BASIC", "TRANSFER"],
    "TransferMode": ["CHANGED", "ALL"],
    "SecurityDescriptorCopyFlags": ["NONE", "OWNER_DACL", "OWNER_DACL_SACL"],
    "ObjectTags": ["PRESERVE", "NONE"],
}

DEFAULTS = {
    "VerifyMode": "POINT_IN_TIME_CONSISTENT",
    "OverwriteMode": "ALWAYS",
    "Atime": "BEST_EFFORT",
    "Mtime": "PRESERVE",
    "Uid": "INT_VALUE",
    "Gid": "INT_VALUE",
    "PreserveDeletedFiles": "PRESERVE",
    "PreserveDevices": "NONE",
    "PosixPermissions": "PRESERVE",
    "BytesPerSecond": -1,
    "TaskQueueing": "ENABLED",
    "LogLevel": "BASIC",
    "TransferMode": "CHANGED",
    "SecurityDescriptorCopyFlags": "OWNER_DACL",
    "ObjectTags": "PRESERVE",
}


def kebab(name):
    out = ""
    for i, c in enumerate(name):
        if c.isupper() and i:
            out += "-"
        out += c.lower()
    return out


class Validation(FerryTestCase):
    """Every rejection: exit 2, a precise message, nothing created."""

    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        oracle.make_flat_tree(self.src, 3, 100)
        self.dst = os.path.join(self.base, "dst")
        self.log = os.path.join(self.base, "rejected.log")

    def assertRejected(self, args, message):
        r = oracle.run_ferry("sync", self.src, self.dst, *args, json_out=False)
        self.assertEqual(r.rc, 2, r.describe())
        self.assertIn(message, r.stderr, r.describe())
        self.assertFalse(os.path.lexists(self.dst), f"{args}: the destination was created")
        self.assertEqual(r.stdout, "", r.describe())
        return r

    def test_transfer_mode_all_with_remove(self):
        msg = ("Invalid SyncOption value. Option: TransferMode,PreserveDeletedFiles, "
               "Value: ALL,REMOVE.")
        self.assertRejected(["--transfer-mode", "ALL", "--preserve-deleted-files", "REMOVE"], msg)
        self.assertRejected(["--options", "TransferMode=ALL,PreserveDeletedFiles=REMOVE"], msg)
        # Mixed: one from the shorthand, one from a flag.
        self.assertRejected(["--options", "TransferMode=ALL", "--preserve-deleted-files",
                             "REMOVE"], msg)

    def test_atime_mtime_rules(self):
        self.assertRejected(["--atime", "BEST_EFFORT", "--mtime", "NONE"],
                            "Invalid SyncOption value. Option: Atime,Mtime, "
                            "Value: BEST_EFFORT,NONE.")
        # Mtime NONE alone: Atime defaults to BEST_EFFORT.
        self.assertRejected(["--mtime", "NONE"],
                            "Invalid SyncOption value. Option: Atime,Mtime, "
                            "Value: BEST_EFFORT,NONE.")
        self.assertRejected(["--atime", "NONE"],
                            "Invalid SyncOption value. Option: Atime,Mtime, Value: NONE,PRESERVE.")
        self.assertRejected(["--atime", "NONE", "--mtime", "PRESERVE"],
                            "Invalid SyncOption value. Option: Atime,Mtime, Value: NONE,PRESERVE.")
        # The allowed pairs work.
        for atime, mtime in (("NONE", "NONE"), ("BEST_EFFORT", "PRESERVE")):
            dst = os.path.join(self.base, f"ok-{atime}-{mtime}")
            r = sync(self.src, dst, "--atime", atime, "--mtime", mtime)
            self.assertSuccess(r)
            self.assertEqual((r["Options.Atime"], r["Options.Mtime"]), (atime, mtime))

    def test_bad_bytes_per_second(self):
        for value in ("0", "-2", "-100"):
            with self.subTest(value=value):
                self.assertRejected(["--bytes-per-second", value],
                                    f"Invalid SyncOption value. Option: BytesPerSecond, "
                                    f"Value: {value}.")
        for value in ("abc", "1.5", "10k", "99999999999999999999999", " 5"):
            with self.subTest(value=value):
                self.assertRejected(["--bytes-per-second", value],
                                    f"Invalid SyncOption value. Option: BytesPerSecond, "
                                    f"Value: {value}.")
        self.assertRejected(["--options", "BytesPerSecond=0"],
                            "Invalid SyncOption value. Option: BytesPerSecond, Value: 0.")

    def test_every_enum_option_rejects_unknown_values(self):
        for name, values in ENUM_OPTIONS.items():
            member = name[0].lower() + name[1:]
            allowed = "[" + ", ".join(values) + "]"
            for bad in ("BOGUS", values[0].lower()):
                with self.subTest(option=name, value=bad):
                    msg = (f"1 validation error detected: Value '{bad}' at 'options.{member}' "
                           f"failed to satisfy constraint: Member must satisfy enum value set: "
                           f"{allowed}")
                    self.assertRejected([f"--{kebab(name)}", bad], msg)
                    self.assertRejected(["--options", f"{name}={bad}"], msg)

    def test_empty_option_value_is_rejected(self):
        # An explicitly empty value is an invalid value (as through --options).
        self.assertRejected(["--verify-mode", ""],
                            "Value '' at 'options.verifyMode' failed to satisfy constraint")
        self.assertRejected(["--options", "VerifyMode="],
                            "Value '' at 'options.verifyMode' failed to satisfy constraint")
        self.assertRejected(["--bytes-per-second", ""], "BytesPerSecond")

    def test_unknown_option_names(self):
        r = self.assertRejected(["--options", "Foo=1"], "Unknown option 'Foo'")
        self.assertIn("VerifyMode", r.stderr)  # the message lists what exists
        self.assertRejected(["--options", "verifymode=NONE"], "Unknown option 'verifymode'")
        self.assertRejected(["--options", "VerifyMode"], "Invalid --options entry 'VerifyMode'")
        self.assertRejected(["--options", "=NONE"], "Invalid --options entry '=NONE'")
        for flag in (["--no-such-option", "x"], ["--verify"], ["--VerifyMode", "NONE"]):
            with self.subTest(flag=flag):
                r = oracle.run_ferry("sync", self.src, self.dst, *flag, json_out=False)
                self.assertEqual(r.rc, 2, r.describe())
                self.assertNotEqual(r.stderr.strip(), "")
                self.assertFalse(os.path.lexists(self.dst))

    def test_other_rejections(self):
        self.assertRejected(["--threads", "-1"], "--threads must be 1..1024")
        self.assertRejected(["--threads", "5000"], "--threads must be 1..1024")
        self.assertRejected(["--outage-limit", "-5"],
                            "--outage-limit must be 0..604800 seconds")
        self.assertRejected(["--checksum-algorithm", "MD5"], "MD5")
        self.assertRejected(["--log-file", os.path.join(self.base, "no", "such", "dir", "x")],
                            "cannot open log file")
        r = oracle.run_ferry("sync", self.src, json_out=False)
        self.assertEqual(r.rc, 2, r.describe())
        r = oracle.run_ferry("sync", json_out=False)
        self.assertEqual(r.rc, 2, r.describe())
        r = oracle.run_ferry(json_out=False)
        self.assertEqual(r.rc, 2, r.describe())

    def test_rejection_touches_nothing(self):
        before = oracle.snapshot(self.base)
        self.assertRejected(["--transfer-mode", "ALL", "--preserve-deleted-files", "REMOVE",
                             "--log-file", self.log], "Invalid SyncOption value.")
        self.assertFalse(os.path.exists(self.log), "the log file was created")
        self.assertEqual(oracle.snapshot(self.base), before)

    def test_include_star_only_at_the_end(self):
        self.assertRejected(["--includes", "*.txt"],
                            'Invalid include filter pattern "*.txt": \'*\' is only allowed as '
                            'the last character of an include pattern')
        self.assertRejected(["--includes", "/ok*|/a*b"], 'Invalid include filter pattern "/a*b"')
        self.assertRejected(["--includes", "/a||/b"], "empty pattern")
        # Excludes allow '*' anywhere.
        r = sync(self.src, self.dst, "--excludes", "*/temp|*.tmp|/x*y")
        self.assertSuccess(r)

    def test_filter_length_limit(self):
        self.assertRejected(["--excludes", "/" + "a" * 102400], "102400")
        # 102,400 characters exactly are allowed.
        r = sync(self.src, self.dst, "--excludes", "/" + "a" * 102399)
        self.assertSuccess(r)


class OptionsEcho(FerryTestCase):
    def test_defaults_and_shorthand(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        oracle.make_flat_tree(src, 4, 1000)
        r = sync(src, os.path.join(base, "d1"))
        self.assertSuccess(r)
        self.assertEqual(r["Options"], DEFAULTS)
        r = sync(src, os.path.join(base, "d2"), "--options",
                 "VerifyMode=NONE,TransferMode=ALL,BytesPerSecond=100000000,LogLevel=OFF")
        self.assertSuccess(r)
        want = dict(DEFAULTS, VerifyMode="NONE", TransferMode="ALL",
                    BytesPerSecond=100000000, LogLevel="OFF")
        self.assertEqual(r["Options"], want)
        self.assertEqual(r["FilesVerified"], 0)
        # Every option through its kebab-case flag, with a non-default value
        # (TransferMode stays CHANGED: ALL is invalid with REMOVE).
        want = dict(DEFAULTS)
        for name, values in ENUM_OPTIONS.items():
            want[name] = [x for x in values if x != DEFAULTS[name]][0]
        want.update(TransferMode="CHANGED", BytesPerSecond=123456789)
        self.assertEqual((want["Atime"], want["Mtime"]), ("NONE", "NONE"))
        flags = []
        for name, value in want.items():
            flags += [f"--{kebab(name)}", str(value)]
        r = sync(src, os.path.join(base, "d3"), *flags)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(r["Options"], want)

    def test_task_queueing_and_other_location_options_accepted(self):
        base = self.scratch()
        src = os.path.join(base, "src")
        oracle.make_flat_tree(src, 2, 10)
        r = sync(src, os.path.join(base, "d"), "--task-queueing", "DISABLED",
                 "--security-descriptor-copy-flags", "NONE", "--object-tags", "NONE")
        self.assertSuccess(r)
        self.assertTreesEqual(src, os.path.join(base, "d"))


class Behaviour(FerryTestCase):
    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        self.dst = os.path.join(self.base, "dst")

    def test_overwrite_never_leaves_differing_files(self):
        oracle.make_flat_tree(self.src, 5, 2000, seed=11)
        self.assertSuccess(sync(self.src, self.dst))
        # The destination copy of f0000 is edited; the source's f0001 changes;
        # f0002 changes mode only at the source; a new file appears.
        edited = os.path.join(self.dst, "f0000")
        oracle.write_file(edited, b"edited at the destination", mtime_ns=1_000_000_000_000_000_005)
        oracle.write_file(os.path.join(self.src, "f0001"), os.urandom(2000),
                          mtime_ns=1_700_000_000_000_000_001)
        os.chmod(os.path.join(self.src, "f0002"), 0o600)
        with oracle.keep_dir_mtime(self.src):
            oracle.write_file(os.path.join(self.src, "new"), b"new file\n")
        before = {n: oracle.snapshot(self.dst).get(n.encode()) for n in ("f0000", "f0001",
                                                                      "f0002")}
        r = sync(self.src, self.dst, "--overwrite-mode", "NEVER",
                 "--verify-mode", "ONLY_FILES_TRANSFERRED")
        self.assertSuccess(r)
        self.assertEqual(r["Options.OverwriteMode"], "NEVER")
        self.assertEqual(r["FilesSkipped"], 3)
        self.assertEqual(r["FilesTransferred"], 1)
        after = oracle.snapshot(self.dst)
        for n, snap in before.items():
            self.assertEqual(after[n.encode()], snap, n)
        with open(edited, "rb") as f:
            self.assertEqual(f.read(), b"edited at the destination")
        self.assertEqual(oracle.file_digest(os.path.join(self.dst, "new")),
                         oracle.file_digest(os.path.join(self.src, "new")))
        # With the default (full) verification the kept files still are not
        # touched, whatever verification then reports.
        r = sync(self.src, self.dst, "--overwrite-mode", "NEVER")
        self.assertEqual(r["FilesSkipped"], 3)
        self.assertEqual(r["FilesTransferred"], 0)
        after = oracle.snapshot(self.dst)
        for n, snap in before.items():
            self.assertEqual(after[n.encode()], snap, n)
        # ALWAYS then makes both sides equal.
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 3)
        self.assertTreesEqual(self.src, self.dst)

    def test_transfer_mode_all_recopies_everything(self):
        stats = oracle.make_tree(self.src, seed=21, files=20, dirs=4, deep=False)
        self.assertSuccess(sync(self.src, self.dst))
        # A destination file corrupted without changing size or mtime: CHANGED
        # cannot see it, ALL rewrites it.
        victim = os.path.join(self.dst, "file020.dat")
        if not os.path.exists(victim):
            victim = next(os.path.join(self.dst, os.fsdecode(rel))
                          for rel, st in oracle.walk(self.dst).items()
                          if stat.S_ISREG(st.st_mode) and st.st_size > 0)
        st = os.stat(victim)
        with open(victim, "r+b") as f:
            first = f.read(1)
            f.seek(0)
            f.write(bytes([first[0] ^ 0xFF]))
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.assertNotEqual(oracle.compare_trees(self.src, self.dst), [])
        r = sync(self.src, self.dst, "--transfer-mode", "ALL")
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], stats["files"])
        self.assertEqual(r["FoldersTransferred"], stats["folders"] - 1)
        self.assertEqual(r["BytesWritten"], stats["bytes"])
        self.assertEqual(r["FilesListed.AtDestinationForDelete"], 0)
        self.assertTreesEqual(self.src, self.dst)
        self.assertRsyncClean(self.src, self.dst)

    def test_posix_permissions_none(self):
        os.makedirs(os.path.join(self.src, "d"))
        oracle.write_file(os.path.join(self.src, "d", "secret"), b"s", mode=0o600)
        oracle.write_file(os.path.join(self.src, "exec"), b"#!/bin/sh\n", mode=0o755)
        os.chmod(os.path.join(self.src, "d"), 0o700)
        r = sync(self.src, self.dst, "--posix-permissions", "NONE")
        self.assertSuccess(r)
        self.assertEqual(r["Options.PosixPermissions"], "NONE")
        self.assertTreesEqual(self.src, self.dst, mode=False)
        # Modes were not copied...
        self.assertNotEqual(oracle.compare_trees(self.src, self.dst), [])
        dst_mode = stat.S_IMODE(os.stat(os.path.join(self.dst, "d", "secret")).st_mode)
        self.assertNotEqual(dst_mode, 0o600)
        # ...and a mode change alone changes nothing at the destination.
        os.chmod(os.path.join(self.src, "exec"), 0o700)
        dst_exec = os.path.join(self.dst, "exec")
        mode_before = stat.S_IMODE(os.stat(dst_exec).st_mode)
        r = sync(self.src, self.dst, "--posix-permissions", "NONE")
        self.assertSuccess(r)
        self.assertEqual(r["BytesWritten"], 0)
        self.assertEqual(stat.S_IMODE(os.stat(dst_exec).st_mode), mode_before)
        # Without extended attributes or ACLs to refresh, it is no change at all.
        os.chmod(os.path.join(self.src, "exec"), 0o750)
        r = sync(self.src, self.dst, "--posix-permissions", "NONE", "--xattrs", "NONE",
                 "--acls", "NONE")
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 0)
        self.assertEqual(r["FoldersTransferred"], 0)
        self.assertEqual(stat.S_IMODE(os.stat(dst_exec).st_mode), mode_before)
        # PRESERVE (the default) copies them.
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertTreesEqual(self.src, self.dst)

    @unittest.skipUnless(oracle.is_root(), "changing owners needs root")
    def test_uid_gid(self):
        os.makedirs(os.path.join(self.src, "d"))
        oracle.write_file(os.path.join(self.src, "d", "f"), b"f", owner=(4242, 4343))
        oracle.write_file(os.path.join(self.src, "g"), b"g", owner=(4244, 4345))
        os.lchown(os.path.join(self.src, "d"), 4246, 4347)
        os.symlink("g", os.path.join(self.src, "ln"))
        os.lchown(os.path.join(self.src, "ln"), 4248, 4349)
        # Default INT_VALUE: numeric ids copied, links included.
        d1 = os.path.join(self.base, "d1")
        self.assertSuccess(sync(self.src, d1))
        self.assertTreesEqual(self.src, d1)
        self.assertEqual(os.lstat(os.path.join(d1, "ln")).st_uid, 4248)
        # NONE: ids not copied (files belong to whoever runs ferry).
        r = sync(self.src, self.dst, "--uid", "NONE", "--gid", "NONE")
        self.assertSuccess(r)
        self.assertTreesEqual(self.src, self.dst, uid=False, gid=False)
        for rel in ("d", "d/f", "g", "ln"):
            st = os.lstat(os.path.join(self.dst, rel))
            self.assertEqual((st.st_uid, st.st_gid), (os.geteuid(), os.getegid()), rel)
        # An owner change alone changes nothing at the destination...
        os.lchown(os.path.join(self.src, "g"), 1, 1)
        r = sync(self.src, self.dst, "--uid", "NONE", "--gid", "NONE")
        self.assertSuccess(r)
        self.assertEqual(r["BytesWritten"], 0)
        st = os.lstat(os.path.join(self.dst, "g"))
        self.assertEqual((st.st_uid, st.st_gid), (os.geteuid(), os.getegid()))
        # ...and without extended attributes or ACLs to refresh, it is no change.
        os.lchown(os.path.join(self.src, "g"), 2, 2)
        r = sync(self.src, self.dst, "--uid", "NONE", "--gid", "NONE", "--xattrs", "NONE",
                 "--acls", "NONE")
        self.assertEqual(r["FilesTransferred"], 0, r.describe())
        # Uid only.
        d2 = os.path.join(self.base, "d2")
        self.assertSuccess(sync(self.src, d2, "--gid", "NONE"))
        self.assertTreesEqual(self.src, d2, gid=False)
        self.assertEqual(os.stat(os.path.join(d2, "d", "f")).st_gid, os.getegid())

    def test_mtime_none(self):
        os.makedirs(self.src)
        oracle.write_file(os.path.join(self.src, "f"), b"content",
                          mtime_ns=1_000_000_000_000_000_007)
        r = sync(self.src, self.dst, "--atime", "NONE", "--mtime", "NONE")
        self.assertSuccess(r)
        self.assertTreesEqual(self.src, self.dst, mtime=False)
        self.assertNotEqual(os.stat(os.path.join(self.dst, "f")).st_mtime_ns,
                            1_000_000_000_000_000_007)
        # The mtimes differ, yet nothing changed: nothing is transferred.
        r = sync(self.src, self.dst, "--atime", "NONE", "--mtime", "NONE")
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 0)
        self.assertEqual(r["BytesWritten"], 0)
        # A new size is still seen.
        oracle.write_file(os.path.join(self.src, "f"), b"longer content",
                          mtime_ns=1_100_000_000_000_000_007)
        r = sync(self.src, self.dst, "--atime", "NONE", "--mtime", "NONE")
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 1)
        self.assertEqual(r["BytesWritten"], len(b"longer content"))
        self.assertTreesEqual(self.src, self.dst, mtime=False)

    def test_xattrs_and_acls(self):
        os.makedirs(os.path.join(self.src, "d"))
        f = os.path.join(self.src, "f")
        oracle.write_file(f, b"with attributes")
        oracle.write_file(os.path.join(self.src, "plain"), b"none")
        try:
            os.setxattr(f, b"user.text", b"one")
            os.setxattr(f, b"user.binary", b"\x00\xff\n")
            os.setxattr(os.path.join(self.src, "d"), b"user.folder", b"yes")
        except OSError as e:
            self.skipTest(f"no user xattrs here: {e}")
        acl = oracle.acls_supported(self.base)  # fails if setfacl is missing
        if acl:
            subprocess.run(["setfacl", "-m", "u:4321:r", os.path.join(self.src, "plain")],
                           check=True)
            subprocess.run(["setfacl", "-d", "-m", "g:4322:rx", os.path.join(self.src, "d")],
                           check=True)
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertTreesEqual(self.src, self.dst, xattrs=True)
        self.assertEqual(os.getxattr(os.path.join(self.dst, "f"), b"user.binary"), b"\x00\xff\n")
        if acl:
            self.assertIn("system.posix_acl_access",
                          os.listxattr(os.path.join(self.dst, "plain")))
        # An attribute changes, another disappears: nothing else changed.
        # (After a pause: see test_attribute_change_found_whatever_the_ctimes.)
        time.sleep(0.05)  # a timing under test: the ctimes must differ by a clock tick
        os.setxattr(f, b"user.text", b"two")
        os.removexattr(os.path.join(self.src, "d"), b"user.folder")
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertEqual(r["BytesWritten"], 0)
        self.assertTreesEqual(self.src, self.dst, xattrs=True)
        # NONE: neither is copied.
        d2 = os.path.join(self.base, "d2")
        r = sync(self.src, d2, "--xattrs", "NONE", "--acls", "NONE")
        self.assertSuccess(r)
        self.assertTreesEqual(self.src, d2)
        self.assertEqual(oracle.xattrs_rel(d2, b"f"), {})
        self.assertEqual(oracle.xattrs_rel(d2, b"plain"), {})

    def test_attribute_change_hidden_by_a_newer_destination_ctime(self):
        # By default (--xattr-check CTIME) scans do not read attributes: an
        # attribute-only change is found because it moves the source ctime
        # past the destination's. When something moves the destination's
        # ctime later still (here a chmod to the same mode; a destination
        # clock ahead of the source's does the same), CHANGED mode cannot see
        # the change. That is the documented limit of the default, so the
        # contract is: full verification reports it (never a silent
        # SUCCESS), and --xattr-check ALWAYS repairs it.
        os.makedirs(self.src)
        f = os.path.join(self.src, "f")
        oracle.write_file(f, b"x")
        try:
            os.setxattr(f, b"user.a", b"1")
        except OSError as e:
            self.skipTest(f"no user xattrs here: {e}")
        self.assertSuccess(sync(self.src, self.dst))
        os.setxattr(f, b"user.a", b"2")
        time.sleep(0.05)  # a timing under test: the destination's ctime lands later
        d = os.path.join(self.dst, "f")
        os.chmod(d, stat.S_IMODE(os.stat(d).st_mode))  # ctime only
        r = sync(self.src, self.dst, "--verify-mode", "POINT_IN_TIME_CONSISTENT")
        self.assertEqual(r.rc, 1)
        self.assertEqual(r["Result.ErrorCode"], "VerificationFailed")
        self.assertEqual(r["FilesFailed.Verify"], 1)
        self.assertEqual(os.getxattr(d, b"user.a"), b"1")
        r = sync(self.src, self.dst, "--xattr-check", "ALWAYS")
        self.assertSuccess(r)
        self.assertEqual(os.getxattr(d, b"user.a"), b"2")

    def test_attribute_change_found_with_xattr_check_always(self):
        os.makedirs(self.src)
        f = os.path.join(self.src, "f")
        oracle.write_file(f, b"x")
        try:
            os.setxattr(f, b"user.a", b"1")
        except OSError as e:
            self.skipTest(f"no user xattrs here: {e}")
        self.assertSuccess(sync(self.src, self.dst))
        os.setxattr(f, b"user.a", b"2")
        time.sleep(0.05)  # a timing under test: the destination's ctime lands later
        d = os.path.join(self.dst, "f")
        os.chmod(d, stat.S_IMODE(os.stat(d).st_mode))  # destination ctime moves past it
        r = sync(self.src, self.dst, "--verify-mode", "ONLY_FILES_TRANSFERRED",
                 "--xattr-check", "ALWAYS")
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 1)
        self.assertEqual(r["BytesWritten"], 0)
        self.assertEqual(os.getxattr(d, b"user.a"), b"2")
        # Nothing changed since: nothing to do, even reading every attribute.
        r = sync(self.src, self.dst, "--xattr-check", "ALWAYS")
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 0)

    def test_atime_best_effort_keeps_the_access_time_before_the_run(self):
        os.makedirs(self.src)
        path = os.path.join(self.src, "f")
        oracle.write_file(path, os.urandom(5000))
        atime = 946_684_800_123_456_789  # 2000-01-01, with nanoseconds
        mtime = 1_500_000_000_987_654_321
        os.utime(path, ns=(atime, mtime))
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        st = os.stat(os.path.join(self.dst, "f"))
        self.assertEqual(st.st_atime_ns, atime)
        self.assertEqual(st.st_mtime_ns, mtime)

    def test_preserve_devices(self):
        os.makedirs(self.src)
        oracle.write_file(os.path.join(self.src, "regular"), b"r")
        dev = os.path.join(self.src, "null-like")
        try:
            os.mknod(dev, 0o620 | stat.S_IFCHR, os.makedev(1, 3))
        except OSError as e:
            self.skipTest(f"cannot create a device node here: {e}")
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertFalse(os.path.lexists(os.path.join(self.dst, "null-like")))
        self.assertEqual(r["FilesSkipped"], 1)
        self.assertEqual(r["FilesTransferred"], 1)
        d2 = os.path.join(self.base, "d2")
        r = sync(self.src, d2, "--preserve-devices", "PRESERVE")
        self.assertSuccess(r)
        self.assertTreesEqual(self.src, d2)
        st = os.lstat(os.path.join(d2, "null-like"))
        self.assertTrue(stat.S_ISCHR(st.st_mode))
        self.assertEqual(st.st_rdev, os.makedev(1, 3))

    def test_bytes_per_second_limits_the_rate(self):
        oracle.make_flat_tree(self.src, 3, 1024 * 1024, seed=2)
        start = time.monotonic()
        r = sync(self.src, self.dst, "--bytes-per-second", str(1024 * 1024),
                 "--verify-mode", "NONE")
        elapsed = time.monotonic() - start
        self.assertSuccess(r)
        self.assertEqual(r["Options.BytesPerSecond"], 1024 * 1024)
        # 3 MiB at 1 MiB/s: at least 2 s even with a one-second burst.
        self.assertGreaterEqual(elapsed, 2.0)
        self.assertTreesEqual(self.src, self.dst)

    def test_log_levels(self):
        oracle.make_flat_tree(self.src, 3, 100)
        logs = {}
        for level in ("OFF", "BASIC", "TRANSFER"):
            log = os.path.join(self.base, level + ".jsonl")
            r = sync(self.src, os.path.join(self.base, "d-" + level), "--log-level", level,
                     "--log-file", log)
            self.assertSuccess(r)
            self.assertEqual(r["Options.LogLevel"], level)
            logs[level] = oracle.read_log(log)
        self.assertEqual(logs["OFF"], [])
        self.assertFalse([x for x in logs["BASIC"] if x.get("event") == "Transferred"])
        self.assertEqual({x["path"] for x in logs["TRANSFER"] if x.get("event") == "Transferred"},
                         {"/f0000", "/f0001", "/f0002"})
        for rec in logs["TRANSFER"]:
            for key in ("time", "level", "event", "message"):
                self.assertIn(key, rec)


class Filters(FerryTestCase):
    FILES = ["dir1/a", "dir1/sub/b", "other/dir1/c", "a.tmp", "keep/b.tmp", "keep/c.tmpx",
             "keep/d", "x/.snapshot/e", ".snapshot/f", "file.snapshot", "docs/reports/r1",
             "docs/misc/m1", "docs/top", "top", "topmost/t"]

    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        for rel in self.FILES:
            os.makedirs(os.path.dirname(os.path.join(self.src, rel)), exist_ok=True)
            oracle.write_file(os.path.join(self.src, rel), rel.encode())

    def listing(self, root):
        return sorted(os.fsdecode(rel) for rel in oracle.walk(root) if rel)

    def run_filter(self, name, *args):
        dst = os.path.join(self.base, name)
        r = sync(self.src, dst, *args)
        self.assertSuccess(r)
        return r, dst

    def test_excludes(self):
        r, dst = self.run_filter("ex", "--excludes", "/dir1|*.tmp")
        self.assertEqual(self.listing(dst), [
            "docs", "docs/misc", "docs/misc/m1", "docs/reports", "docs/reports/r1", "docs/top",
            "keep", "keep/c.tmpx", "keep/d", "other", "other/dir1", "other/dir1/c", "top",
            "topmost", "topmost/t", "x"])
        self.assertEqual(r["Excludes"], [{"FilterType": "SIMPLE_PATTERN", "Value": "/dir1|*.tmp"}])
        self.assertEqual(r["Includes"], [])
        self.assertEqual(r["FilesTransferred"], 8)
        # Whatever ferry verifies, the copied part is exact.
        self.assertTreesEqual(self.src, dst, ignore=lambda rel: os.fsdecode(rel) not in
                              self.listing(dst))

    def test_exclude_trailing_slash_and_wildcard_folders(self):
        _, dst = self.run_filter("ex2", "--excludes", "/docs/|*/dir1")
        listing = self.listing(dst)
        self.assertNotIn("docs", listing)
        self.assertNotIn("other/dir1", listing)
        self.assertIn("other", listing)
        # '*' matches zero or more characters: "*/dir1" matches "/dir1" too.
        self.assertNotIn("dir1", listing)
        self.assertIn("keep", listing)

    def test_snapshot_always_excluded(self):
        _, dst = self.run_filter("snap")
        listing = self.listing(dst)
        for rel in (".snapshot", ".snapshot/f", "x/.snapshot", "x/.snapshot/e", "file.snapshot"):
            self.assertNotIn(rel, listing)
        self.assertIn("x", listing)
        # Even when an include names it.
        _, dst = self.run_filter("snap2", "--includes", "/.snapshot|/x")
        self.assertEqual(self.listing(dst), ["x"])

    def test_includes(self):
        r, dst = self.run_filter("inc", "--includes", "/docs/reports|/top*")
        self.assertEqual(self.listing(dst), ["docs", "docs/reports", "docs/reports/r1", "top",
                                             "topmost", "topmost/t"])
        self.assertEqual(r["Includes"],
                         [{"FilterType": "SIMPLE_PATTERN", "Value": "/docs/reports|/top*"}])
        self.assertEqual(r["FilesTransferred"], 3)

    def test_includes_and_excludes(self):
        _, dst = self.run_filter("both", "--includes", "/keep|/docs", "--excludes", "*.tmp|/docs/misc")
        self.assertEqual(self.listing(dst), ["docs", "docs/reports", "docs/reports/r1",
                                             "docs/top", "keep", "keep/c.tmpx", "keep/d"])

    def test_excluded_items_are_not_deleted(self):
        dst = os.path.join(self.base, "keepx")
        self.assertSuccess(sync(self.src, dst))
        # dir1 disappears from the source but is excluded: REMOVE leaves it.
        import shutil
        shutil.rmtree(os.path.join(self.src, "dir1"))
        os.unlink(os.path.join(self.src, "keep", "d"))
        r = sync(self.src, dst, "--excludes", "/dir1", "--preserve-deleted-files", "REMOVE")
        self.assertSuccess(r)
        self.assertTrue(os.path.exists(os.path.join(dst, "dir1", "sub", "b")))
        self.assertFalse(os.path.exists(os.path.join(dst, "keep", "d")))
        self.assertEqual(r["FilesDeleted"], 1)


class Output(FerryTestCase):
    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        oracle.make_tree(self.src, seed=31, files=10, dirs=2, deep=False)

    def test_json_shape(self):
        r = sync(self.src, os.path.join(self.base, "d"))
        self.assertSuccess(r)
        j = r.json
        for key in ("Status", "TaskExecutionArn"):
            self.assertIsInstance(j[key], str, key)
        self.assertIsInstance(j["Options"], dict)
        for key in ("StartTime", "EstimatedFilesToTransfer", "EstimatedBytesToTransfer",
                    "FilesTransferred", "BytesWritten", "BytesTransferred", "FilesSkipped",
                    "FilesDeleted", "FilesVerified", "FoldersTransferred", "FoldersSkipped",
                    "FoldersDeleted", "FoldersVerified", "EstimatedFoldersToTransfer"):
            self.assertIn(key, j)
            self.assertIsInstance(j[key], (int, float), key)
            self.assertNotIsInstance(j[key], bool, key)
            self.assertGreaterEqual(j[key], 0, key)
        for parent, children in (("FilesListed", ("AtSource", "AtDestinationForDelete")),
                                 ("FoldersListed", ("AtSource", "AtDestinationForDelete")),
                                 ("FilesFailed", ("Prepare", "Transfer", "Verify", "Delete")),
                                 ("FoldersFailed", ("Prepare", "Transfer", "Verify", "Delete"))):
            for c in children:
                self.assertIsInstance(j[parent][c], int, f"{parent}.{c}")
        res = j["Result"]
        for key in ("PrepareDuration", "TransferDuration", "VerifyDuration", "TotalDuration"):
            self.assertIsInstance(res[key], int, key)
            self.assertGreaterEqual(res[key], 0, key)
        self.assertGreaterEqual(res["TotalDuration"], res["VerifyDuration"])
        for key in ("PrepareStatus", "TransferStatus", "VerifyStatus"):
            self.assertIn(res[key], ("PENDING", "SUCCESS", "ERROR"), key)
        self.assertRegex(j["TaskExecutionArn"],
                         r"^arn:aws:datasync:[^:]+:\d+:task/task-[0-9a-f]{17}/execution/"
                         r"exec-[0-9a-f]{17}$")
        now = time.time()
        self.assertLess(abs(j["StartTime"] - now), 600)

    def test_summary_without_json(self):
        r = oracle.run_ferry("sync", self.src, os.path.join(self.base, "d"), json_out=False)
        self.assertEqual(r.rc, 0, r.describe())
        with self.assertRaises(ValueError):
            json.loads(r.stdout)
        self.assertRegex(r.stdout, r"(?m)^Status:\s+SUCCESS$")
        stats = oracle.tree_stats(self.src)
        self.assertRegex(r.stdout, rf"(?m)^Files:\s+{stats['files']} transferred")
        self.assertIn("verified", r.stdout)

    def test_no_progress_noise_off_a_terminal(self):
        src = os.path.join(self.base, "slow")
        oracle.make_flat_tree(src, 4, 512 * 1024)
        # Slow enough for a progress line to have been drawn several times.
        r = oracle.run_ferry("sync", src, os.path.join(self.base, "d"), "--bytes-per-second",
                             str(1024 * 1024), json_out=False)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(r.stderr, "")
        self.assertNotIn("\r", r.stdout)
        self.assertNotIn("\x1b", r.stdout)
        r = sync(self.src, os.path.join(self.base, "d2"))
        self.assertEqual(r.stderr, "")
        json.loads(r.stdout)  # nothing but the JSON on stdout

    def test_progress_only_on_a_terminal(self):
        import pty  # Linux has it
        src = os.path.join(self.base, "slow")
        oracle.make_flat_tree(src, 3, 1024 * 1024)
        seen = {}
        for extra in ([], ["--no-progress"]):
            master, slave = pty.openpty()
            proc = subprocess.Popen(
                oracle.ferry_cmd() + ["sync", src, os.path.join(self.base, f"t{len(extra)}"),
                                      "--bytes-per-second", str(1024 * 1024), *extra],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
            os.close(slave)
            data = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
            proc.communicate(timeout=oracle.scaled(60))
            os.close(master)
            self.assertEqual(proc.returncode, 0,
                             oracle.describe_output("terminal", data.decode("utf-8", "replace")))
            seen[bool(extra)] = data
        self.assertIn(b"\r", seen[False])  # a progress line was drawn on the terminal
        self.assertEqual(seen[True], b"")  # --no-progress: nothing

    def test_version_and_help(self):
        r = oracle.run_ferry("--version", json_out=False)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertRegex(r.stdout.strip(), r"^ferry \d+\.\d+\.\d+")
        r = oracle.run_ferry("--help", json_out=False)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertIn("sync", r.stdout)
        self.assertIn("checksum", r.stdout)
        r = oracle.run_ferry("sync", "--help", json_out=False)
        self.assertEqual(r.rc, 0, r.describe())
        for name in list(ENUM_OPTIONS) + ["BytesPerSecond"]:
            self.assertIn("--" + kebab(name), r.stdout)
        for flag in ("--options", "--includes", "--excludes", "--json", "--threads",
                     "--checksum-algorithm", "--log-file", "--no-progress"):
            self.assertIn(flag, r.stdout)


if __name__ == "__main__":
    unittest.main()
