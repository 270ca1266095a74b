"""Training data for the neural refiner, prepared from talking-face videos and prep shards.

The refiner itself (networks, training loop, checkpoints) lives in :mod:`talkrig.texture.neural`
and takes the tensors built here: :mod:`.sources` opens a video / npz / shard folder as a
:class:`~talkrig.data_prep.refiner.sources.TrainingData`, :mod:`.classical` renders the classical
frames the refiner learns to correct, :mod:`.minimal` builds the landmark-only conditioning.
"""
