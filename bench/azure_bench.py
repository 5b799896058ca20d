#!/usr/bin/env python3
"""ferry against rclone (its azureblob backend) on Azurite.

Issue 11's measurement: the `small` and `large` trees of gen_tree.py written
to an Azure Blob container (upload) and read back (download) by each tool,
rounds interleaved and the tool order rotated every round, and the no-change
re-run of each. The server is tests/support/azurite.sh's Azurite on
127.0.0.1 (its blobs on --root, a RAM disk by default), with the account key.

  ferry   FERRY_AZURE_KEY=... ferry sync SRC http://127.0.0.1:PORT/devstoreaccount1/ferry/P
          --verify-mode NONE --no-progress    (and back)
  rclone  rclone copy SRC azbench:ferry/P     (the remote from RCLONE_CONFIG_*
          variables: type azureblob and the container's SAS URL)

Round 1 of every upload is checked file by file (read back with ferry,
untimed), and every download against the source, content only. Targets:
ferry at least 1.5 x faster than rclone on `small` both ways, at least as
fast on `large`.

    python3 bench/azure_bench.py                       # small and large, 3 rounds
    python3 bench/azure_bench.py --trees small --scale small=0.1 --runs 1
    python3 bench/azure_bench.py --smoke               # seconds: the script works
"""

import os
import subprocess
import sys

import run_bench
import smb_bench

HERE = os.path.dirname(os.path.abspath(__file__))
AZURITE_SH = os.path.join(HERE, "..", "tests", "support", "azurite.sh")


class AzureBench(smb_bench.Bench):
    TOOLS = ["ferry", "rclone"]
    BASELINES = ["rclone"]
    LABELS = {"ferry": "ferry", "rclone": "rclone copy"}
    NO_CHANGE_TOOLS = ("ferry", "rclone")
    NO_CHANGE_LIMIT_S = None
    REMOTE = "azure"

    def start_server(self):
        state = os.path.join(self.root, "azurite")
        p = subprocess.run(["bash", AZURITE_SH, "start", state], capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise SystemExit(f"azurite.sh start failed:\n{p.stderr}")
        self.state = state
        self.env = dict(line.split("=", 1) for line in p.stdout.split() if "=" in line)
        self.endpoint = self.env["FERRY_TEST_AZURE_ENDPOINT"]
        self.container = self.env["FERRY_TEST_AZURE_CONTAINER"]
        self.tool_env = dict(os.environ)
        self.tool_env.pop("FERRY_AZURE_SAS", None)
        self.tool_env.update({
            "FERRY_AZURE_KEY": self.env["FERRY_TEST_AZURE_KEY"],
            "RCLONE_CONFIG_AZBENCH_TYPE": "azureblob",
            # rclone 1.60 reaches an account at a URL of its own only
            # through a SAS URL (its emulator setting hangs here).
            "RCLONE_CONFIG_AZBENCH_SAS_URL":
                f"{self.endpoint}/{self.container}?{self.env['FERRY_TEST_AZURE_SAS']}",
        })

    def stop_server(self):
        if self.env is not None:
            subprocess.run(["bash", AZURITE_SH, "stop", self.state], capture_output=True)

    def where(self):
        return f"Azurite at {self.endpoint}, blobs on {self.state}/data"

    def server_pid(self):
        return int(self.env["FERRY_TEST_AZURE_PID"])

    def url(self, prefix):
        return f"{self.endpoint}/{self.container}/{prefix}"

    def command(self, tool, phase, src, dst):
        if tool == "ferry":
            def loc(x):
                return self.url(x[1]) if isinstance(x, tuple) else x
            verify = "ONLY_FILES_TRANSFERRED" if phase == "no-change" else "NONE"
            return [self.ferry, "sync", loc(src), loc(dst), "--verify-mode", verify,
                    "--no-progress"]
        if tool == "rclone":
            def rc(x):
                return f"azbench:{self.container}/{x[1]}" if isinstance(x, tuple) else x
            return ["rclone", "copy", rc(src), rc(dst)]
        raise ValueError(tool)

    def clear(self, prefix):
        # An empty folder synced with deletes: every blob beneath goes.
        empty = os.path.join(self.root, "empty")
        os.makedirs(empty, exist_ok=True)
        res = run_bench.run_timed(
            [self.ferry, "sync", empty, self.url(prefix), "--preserve-deleted-files",
             "REMOVE", "--verify-mode", "NONE", "--no-progress"], env=self.tool_env)
        if res["rc"] != 0 and "does not exist" not in res["stderr"]:
            raise SystemExit(f"could not clear {prefix}: {res['stderr'][-2000:]}")

    def written(self, prefix):
        back = os.path.join(self.root, "written")
        run_bench.remove(back)
        res = run_bench.run_timed([self.ferry, "sync", self.url(prefix), back,
                                   "--verify-mode", "NONE", "--no-progress"],
                                  env=self.tool_env)
        if res["rc"] != 0:
            raise SystemExit(f"could not read back {prefix}: {res['stderr'][-2000:]}")
        return back


if __name__ == "__main__":
    sys.exit(smb_bench.main(cls=AzureBench, doc=__doc__,
                            root="/dev/shm/ferry-azure-bench"))
