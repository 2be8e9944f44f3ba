"""Background work: the log's sequencer and anchoring, and the jobs of other modules.

Two runners take the same job functions (``jobs.registry``):

- the embedded default (no ``CASSET_QUEUE_URL``): each server process runs the sequencer
  on a thread (only the holder of its lease works) and other jobs on a small thread
  pool in the process (``InlineQueue``);
- a real queue (``CASSET_QUEUE_URL=redis://...`` or ``postgresql://...``): SAQ, the
  queue Litestar's reference application uses, on Redis or PostgreSQL. Servers only
  enqueue; ``casset-rights worker`` processes, on any number of machines, run the jobs
  and the cron job that sequences the log every second. A job whose worker died is swept
  back to the queue by SAQ after its heartbeat lapses and runs again; every job here is
  idempotent, so a second run does no harm.
"""

from casset_rights.jobs.queue import InlineQueue, JobQueue, JobState, SaqQueue, open_queue

__all__ = ["InlineQueue", "JobQueue", "JobState", "SaqQueue", "open_queue"]
