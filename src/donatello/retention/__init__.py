"""Retention: the documented schedule for sessions, generations and their blobs (see ``tasks``)."""

from donatello.retention.tasks import RetentionReport, job, run, run_exclusive

__all__ = ["RetentionReport", "job", "run", "run_exclusive"]
