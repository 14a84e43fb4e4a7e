"""Lineage: record-level hops of data subjects' data, and job-level OpenLineage run events."""

from interlink.observe.lineage.recorder import (
    CURRENT_RUN,
    LineageRecorder,
    RunLineage,
    Subjects,
    note_called,
    note_step,
    note_written,
    subject_types,
)
from interlink.observe.lineage.trace import Trace, trace_subject

__all__ = [
    "CURRENT_RUN",
    "LineageRecorder",
    "RunLineage",
    "Subjects",
    "Trace",
    "note_called",
    "note_step",
    "note_written",
    "subject_types",
    "trace_subject",
]
