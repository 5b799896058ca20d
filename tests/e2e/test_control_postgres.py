"""End-to-end: the main flow against a server that keeps its state in
PostgreSQL (`ferry server init --db postgresql://...`, a throwaway cluster on
127.0.0.1 from tests/support/postgres.sh), and a restart that reads it back.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_control_postgres
"""

import os
import shutil
import subprocess
import unittest

import control
import oracle

CTL = None


def setUpModule():
    global CTL
    control.need_boto3()
    CTL = control.Control.start(control.ModuleCleanups(), postgres=True)



def psql(url, sql):
    """Runs SQL with psql (postgresql-client, which scripts/setup.sh's
    postgresql brings)."""
    exe = shutil.which("psql")
    if exe is None:
        raise AssertionError("psql is not installed (scripts/setup.sh installs postgresql)")
    p = subprocess.run([exe, url, "-At", "-c", sql], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"psql failed: {p.stderr}")
    return p.stdout


class PostgresFlow(oracle.FerryTestCase):
    def setUp(self):
        CTL.ensure_agents()

    def test_server_uses_postgresql(self):
        self.assertTrue(CTL.server.db.startswith("postgresql://"))
        self.assertFalse(os.path.exists(os.path.join(CTL.server.dir, "state.db")),
                         "a SQLite file was made although --db names PostgreSQL")
        with open(CTL.server.log) as f:
            self.assertIn("postgresql", f.read())
        tables = psql(CTL.server.db, "SELECT count(*) FROM information_schema.tables "
                                     "WHERE table_schema = 'public'")
        self.assertGreater(int(tables.strip()), 0)

    def test_main_flow(self):
        c = CTL.client()
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        stats = oracle.make_tree(src, seed=31337, files=40, dirs=8)
        s = CTL.create_location_local(src)
        d = CTL.create_location_local(dst)
        t = c.create_task(SourceLocationArn=s, DestinationLocationArn=d, Name="pg-task",
                          Options={"VerifyMode": "POINT_IN_TIME_CONSISTENT",
                                   "PreserveDeletedFiles": "REMOVE"},
                          Excludes=[{"FilterType": "SIMPLE_PATTERN", "Value": "*.nothing"}],
                          Tags=[{"Key": "db", "Value": "postgres"}])["TaskArn"]
        e = c.start_task_execution(TaskArn=t)["TaskExecutionArn"]
        r = CTL.wait_execution(e, timeout=90)
        self.assertEqual(r["Status"], "SUCCESS", f"{r}\n{CTL.logs()}")
        self.assertEqual(r["FilesTransferred"], stats["files"])
        self.assertEqual(r["BytesWritten"], stats["bytes"])
        self.assertEqual(r["FilesVerified"], stats["files"])
        self.assertTreesEqual(src, dst)
        task = c.describe_task(TaskArn=t)
        self.assertEqual(task["Name"], "pg-task")
        self.assertEqual(task["Status"], "AVAILABLE")
        self.assertEqual(task["Options"]["PreserveDeletedFiles"], "REMOVE")
        self.assertIn(t, [x["TaskArn"] for x in c.list_tasks()["Tasks"]])
        self.assertIn(s, [x["LocationArn"] for x in c.list_locations()["Locations"]])
        self.assertEqual([x["TaskExecutionArn"] for x in
                          c.list_task_executions(TaskArn=t)["TaskExecutions"]], [e])
        self.assertEqual(c.list_tags_for_resource(ResourceArn=t)["Tags"],
                         [{"Key": "db", "Value": "postgres"}])
        self.assertEqual(c.describe_agent(AgentArn=CTL.agent_arn)["Status"], "ONLINE")
        # A deletion at the source goes with REMOVE; the second run finds it.
        victim = next(rel for rel, st in oracle.walk(src).items()
                      if rel and oracle.kind(st) == "file")
        os.unlink(os.path.join(os.fsencode(src), victim))
        r2 = CTL.run_task(t, timeout=90)
        self.assertEqual(r2["Status"], "SUCCESS", r2)
        self.assertEqual(r2["FilesDeleted"], 1)
        self.assertEqual(r2["FilesTransferred"], 0)
        self.assertTreesEqual(src, dst)

    def test_state_survives_a_restart(self):
        c = CTL.client()
        base = self.scratch()
        s = CTL.create_location_local(os.path.join(base, "s"))
        d = CTL.create_location_local(os.path.join(base, "d"))
        t = c.create_task(SourceLocationArn=s, DestinationLocationArn=d, Name="kept")["TaskArn"]
        before = CTL.connections(CTL.agent)
        failed = CTL.failed_syncs(CTL.agent)
        CTL.server.stop()
        # Once the agent has found the server gone, it comes back (a server
        # that restarts between two syncs is met again without a failure, and
        # the agent would not say it reconnected).
        CTL.wait_failed_sync(CTL.agent, failed)
        CTL.server.start()
        CTL.wait_reconnected(CTL.agent, before)
        c = CTL.client()
        self.assertEqual(c.describe_task(TaskArn=t)["Name"], "kept")
        CTL.wait_agent_status(CTL.agent_arn, "ONLINE", 30)
        os.makedirs(os.path.join(base, "s"), exist_ok=True)
        oracle.write_file(os.path.join(base, "s", "f"), b"after the restart\n")
        r = CTL.run_task(t, timeout=60)
        self.assertEqual(r["Status"], "SUCCESS", f"{r}\n{CTL.logs()}")
        self.assertEqual(r["FilesTransferred"], 1)



if __name__ == "__main__":
    unittest.main()
