"""End-to-end: task schedules (EventBridge rate() and cron()).

EventBridge's finest schedule is one minute and ferry offers no faster clock
for tests, so this module waits, once, for real minutes: a `rate(1 minute)`
task fires about 60 s after its creation, and a task whose scheduled runs all
fail (its source folder does not exist), scheduled `cron(* * * * ? *)`, has
its schedule disabled by the service after three failures in a row (ferry's
schedule_failure_limit, not configurable from the command line): at the third
minute boundary, 2-3 minutes after the start. Both tasks are made at the
start of the module and watched in parallel, so the module's wall time is
that one wait (about 3 minutes, mostly idle).

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_control_schedule
"""

import os
import time
import unittest

import control
import oracle
from control import client_error

CTL = None
FAILURE_LIMIT = 3  # docs/protocol.md: schedule_failure_limit


def setUpModule():
    global CTL
    control.need_boto3()
    CTL = control.Control.start(control.ModuleCleanups())




class Scheduled(oracle.FerryTestCase):
    """The one real wait of the suite: both tasks are created in setUpClass."""

    @classmethod
    def setUpClass(cls):
        base = oracle.make_scratch(control.ClassCleanups(cls))
        c = CTL.client()
        cls.src = os.path.join(base, "src")
        cls.dst = os.path.join(base, "dst")
        cls.stats = oracle.make_tree(cls.src, seed=99, files=15, dirs=3)
        os.makedirs(cls.dst)
        s = CTL.create_location_local(cls.src)
        d = CTL.create_location_local(cls.dst)
        cls.created = time.time()
        cls.good = c.create_task(SourceLocationArn=s, DestinationLocationArn=d,
                                 Name="every-minute",
                                 Schedule={"ScheduleExpression": "rate(1 minute)"})["TaskArn"]
        missing = CTL.create_location_local(os.path.join(base, "missing"))
        d2 = CTL.create_location_local(os.path.join(base, "dst2"))
        cls.bad = c.create_task(SourceLocationArn=missing, DestinationLocationArn=d2,
                                Name="always-fails",
                                Schedule={"ScheduleExpression": "cron(* * * * ? *)"})["TaskArn"]

    def executions(self, task):
        return CTL.client().list_task_executions(TaskArn=task)["TaskExecutions"]

    def first_execution(self, task):
        """The task's first execution (DescribeTaskExecution), or None."""
        listed = self.executions(task)
        if not listed:
            return None
        described = [CTL.describe_execution(e["TaskExecutionArn"]) for e in listed]
        return min(described, key=lambda d: d["StartTime"])

    def test_rate_1_minute_fires(self):
        # Whether it runs before or after the other test (which waits about
        # three minutes), it judges the first execution by its StartTime.
        t = CTL.client().describe_task(TaskArn=self.good)
        self.assertEqual(t["Schedule"], {"ScheduleExpression": "rate(1 minute)",
                                         "Status": "ENABLED"})
        first = control.wait_for(lambda: self.first_execution(self.good),
                                 max(self.created + 90 - time.time(), 1), 0.5,
                                 "the scheduled execution to show up in ListTaskExecutions",
                                 CTL.logs)
        fired_after = first["StartTime"].timestamp() - self.created
        self.assertGreaterEqual(fired_after, 55, "fired before a minute had passed")
        self.assertLess(fired_after, 90, "did not fire within its first minute and a half")
        # At most one execution per minute since the task was created.
        listed = self.executions(self.good)
        self.assertLessEqual(len(listed), 1 + int((time.time() - self.created) // 55), listed)
        d = CTL.wait_execution(first["TaskExecutionArn"], timeout=60)
        self.assertEqual(d["Status"], "SUCCESS", d)
        self.assertEqual(d["FilesTransferred"], self.stats["files"])
        self.assertTreesEqual(self.src, self.dst)
        # ListTaskExecutions without a task lists it too.
        every = CTL.client().list_task_executions()["TaskExecutions"]
        self.assertIn(first["TaskExecutionArn"], [e["TaskExecutionArn"] for e in every])

    def test_repeated_failures_disable_the_schedule(self):
        c = CTL.client()

        def disabled():
            t = c.describe_task(TaskArn=self.bad)
            return t if t["Schedule"]["Status"] == "DISABLED" else None
        # Three minute boundaries after creation, plus the runs themselves.
        t = control.wait_for(disabled, self.created + 60 * FAILURE_LIMIT + 45 - time.time(), 1,
                             "the failing task's schedule to be disabled",
                             lambda: f"executions: {self.executions(self.bad)}\n" + CTL.logs())
        ex = self.executions(self.bad)
        self.assertEqual(len(ex), FAILURE_LIMIT, ex)
        for e in ex:
            self.assertEqual(e["Status"], "ERROR", e)
        last = CTL.describe_execution(ex[-1]["TaskExecutionArn"])
        code = last["Result"].get("ErrorCode")
        self.assertTrue(code, last["Result"])
        details = t["ScheduleDetails"]
        self.assertEqual(details.get("DisabledBy"), "SERVICE", details)
        reason = details.get("DisabledReason", "")
        self.assertIn(code, reason)
        self.assertIn(str(FAILURE_LIMIT), reason)
        self.assertIn("StatusUpdateTime", details)
        self.assertEqual(t["Schedule"]["ScheduleExpression"], "cron(* * * * ? *)")
        # Enabling it again clears the service's mark.
        c.update_task(TaskArn=self.bad, Schedule={"ScheduleExpression": "cron(* * * * ? *)",
                                                  "Status": "ENABLED"})
        t = c.describe_task(TaskArn=self.bad)
        self.assertEqual(t["Schedule"]["Status"], "ENABLED")
        self.assertNotIn("DisabledBy", t.get("ScheduleDetails", {}))
        c.update_task(TaskArn=self.bad, Schedule={"ScheduleExpression": ""})


class ScheduleRequests(oracle.FerryTestCase):
    """What CreateTask/UpdateTask take and answer; no waiting."""

    def setUp(self):
        base = self.scratch()
        self.s = CTL.create_location_local(os.path.join(base, "s"))
        self.d = CTL.create_location_local(os.path.join(base, "d"))
        self.c = CTL.client()

    def test_bad_expressions_refused(self):
        for expr in ("rate(0 minutes)", "rate(5 fortnights)", "cron(bad)",
                     "cron(0 12 * * * *)",  # day-of-month and day-of-week both set
                     "every minute"):
            with self.subTest(expr=expr):
                code, msg, status, _ = client_error(
                    self, self.c.create_task, SourceLocationArn=self.s,
                    DestinationLocationArn=self.d, Schedule={"ScheduleExpression": expr})
                self.assertEqual((code, status), ("InvalidRequestException", 400), msg)

    def test_good_expressions_accepted(self):
        for expr in ("rate(5 minutes)", "rate(1 hour)", "rate(2 days)", "cron(0 12 * * ? *)",
                     "cron(15 10 ? * 6L 2030-2040)", "cron(0/30 8-17 ? * MON-FRI *)",
                     "cron(0 0 L * ? *)", "cron(0 9 ? * 2#1 *)"):
            with self.subTest(expr=expr):
                t = self.c.create_task(SourceLocationArn=self.s, DestinationLocationArn=self.d,
                                       Schedule={"ScheduleExpression": expr})["TaskArn"]
                got = self.c.describe_task(TaskArn=t)["Schedule"]
                self.assertEqual(got, {"ScheduleExpression": expr, "Status": "ENABLED"})
                self.c.delete_task(TaskArn=t)

    def test_user_disables_and_removes(self):
        t = self.c.create_task(SourceLocationArn=self.s, DestinationLocationArn=self.d,
                               Schedule={"ScheduleExpression": "rate(1 hour)"})["TaskArn"]
        self.c.update_task(TaskArn=t, Schedule={"ScheduleExpression": "rate(1 hour)",
                                                "Status": "DISABLED"})
        d = self.c.describe_task(TaskArn=t)
        self.assertEqual(d["Schedule"]["Status"], "DISABLED")
        self.assertEqual(d["ScheduleDetails"].get("DisabledBy"), "USER")
        # An empty expression removes the schedule.
        self.c.update_task(TaskArn=t, Schedule={"ScheduleExpression": ""})
        self.assertNotIn("Schedule", self.c.describe_task(TaskArn=t))



if __name__ == "__main__":
    unittest.main()
