"""Benchmarks: ops and models against PyTorch on the same machine, the hardware limit, deployment, memory.

``keras-segattn benchmark`` and ``tools/benchmark.py`` run :func:`run` and
write its JSON report and :func:`to_markdown`'s tables. PyTorch is optional
(``pip install keras-segattn[bench]``); without it the PyTorch columns are
left out. Only ratios measured in the same run compare.

Example:
    >>> from keras_segattn.benchmark import run, to_markdown
    >>> report = run(["hardware"], quick=True)
    >>> report["hardware"]["flop_per_s"]["tensorflow"] > 0
    True
"""

from keras_segattn.benchmark.flops import model_flops
from keras_segattn.benchmark.report import to_markdown
from keras_segattn.benchmark.suite import SECTIONS, run

__all__ = ["SECTIONS", "model_flops", "run", "to_markdown"]
