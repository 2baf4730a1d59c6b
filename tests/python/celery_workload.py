"""Gives a real worker one of every task outcome, through the real Celery client: tasks
that succeed, fail, are retried, are rejected, and one revoked by its id before it
arrives (the worker drops it on receipt and sends task-revoked).

usage: celery_workload.py QUEUE
Prints the revoked task's id.
"""
import sys
import uuid

from celery_app import app

queue = sys.argv[1]
revoked = str(uuid.uuid4())
# With reply=True the call returns once the worker has taken the revoke.
replies = app.control.revoke(revoked, reply=True, timeout=10)
if not replies:
    sys.exit("no worker answered the revoke")
with app.producer_or_acquire() as producer:
    for _ in range(3):
        app.send_task("tickwatch.add", args=[2, 3], queue=queue, producer=producer)
    for _ in range(2):
        app.send_task("tickwatch.fail", args=["on purpose"], queue=queue, producer=producer)
    app.send_task("tickwatch.flaky", queue=queue, producer=producer)
    app.send_task("tickwatch.reject", queue=queue, producer=producer)
    app.send_task("tickwatch.add", args=[1, 1], queue=queue, task_id=revoked, producer=producer)
print(revoked)
