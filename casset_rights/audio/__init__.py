"""The audio side: uploads into a content-addressed blob store, analysis jobs, and
previews behind the permission layer with C2PA inside every file.

Nothing here imports numpy, librosa, soundfile, PyAV or c2pa at import time; they load
when audio is first handled (the ``audio`` extra installs them).
"""

from casset_rights.audio.analysis_jobs import AnalysisDeps, analyse_track
from casset_rights.audio.service import AudioService, open_audio

__all__ = ["AnalysisDeps", "AudioService", "analyse_track", "open_audio"]
