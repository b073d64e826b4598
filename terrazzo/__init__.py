"""Terrazzo's command line (:mod:`terrazzo.cli`) and the kernel suite it ships
(:mod:`terrazzo.kernels`): the one layer that uses ``hw``, ``compiler`` and ``sim``
together. Nothing in those three imports it."""
