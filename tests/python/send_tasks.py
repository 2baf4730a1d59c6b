"""Sends tasks through a real Celery client (Kombu's own envelope), for tests that need
tasks produced the way an application produces them.

usage: send_tasks.py TASK_NAME QUEUE COUNT ARGS_JSON [PRIORITY]
Prints one task id per line.
"""
import json
import sys

from celery_app import app

name, queue, count, args = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
priority = int(sys.argv[5]) if len(sys.argv) > 5 else None
with app.producer_or_acquire() as producer:
    for _ in range(count):
        result = app.send_task(name, args=args, queue=queue, priority=priority, producer=producer)
        print(result.id)
