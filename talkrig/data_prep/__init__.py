"""Offline dataset preparation: talking-face videos -> per-frame coefficients and shards.

``prepare(input, out)`` runs the job (see :mod:`talkrig.data_prep.engine`); ``ClipDataset``
reads the result for training (see :mod:`talkrig.data_prep.dataset`). Format: docs/data_prep.md.
"""

from talkrig.data_prep.engine import Summary, prepare
from talkrig.data_prep.process import PrepConfig

__all__ = ["PrepConfig", "Summary", "prepare"]
