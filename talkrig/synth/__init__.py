"""Talking-head frame synthesis: a Reconstruction and per-frame coefficients in, frames out.

The stage above the pixel primitives of :mod:`talkrig.render`: the photo warped by the moving
mesh (:mod:`~talkrig.synth.frames`, :mod:`~talkrig.synth.composite`), the mouth interior
(:mod:`~talkrig.synth.mouth`), eyeball the photo's lids hid (:mod:`~talkrig.synth.eyes`), skin
relighting, and the optional neural refinement of each frame (:mod:`~talkrig.synth.refine`).
"""
