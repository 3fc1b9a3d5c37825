"""Task dispatch (issue 12): how work reaches the Celery workers, safely.

- ``models``: the outbox of tasks to send and the slots of scheduled jobs.
- ``outbox``: ``enqueue_on_commit(task_name, …)`` for services, and the relay that sends what waited
  while the broker was down.
- ``slots``: ``OncePerSlot``, the task base that lets each scheduled job run once per schedule slot.
"""
