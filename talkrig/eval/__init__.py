"""Metrics for generated talking-face videos (docs/metrics.md).

Entry points: :func:`talkrig.eval.evaluate.evaluate` (everything, with or without a
reference video), :func:`talkrig.eval.evaluate.print_no_reference_checks` (the render
command's summary); the metric functions live in ``frames``, ``cpbd``, ``landmarks``,
``lipsync``, ``expression``, ``syncnet``, ``fid`` and ``vmaf``.
"""
