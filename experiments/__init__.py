"""Experiments on tinynet + clr: the demo, the model zoo, the training loop and shared utilities.

    tinynet-clr demo                     # or: python -m experiments demo

Modules: ``models`` (networks by name, each seeded), ``train`` (the training loop and
``iterations_to_reach``, the paper's measure), ``common`` (run metadata, atomic writers,
mean ± std over seeds), ``demo`` (the pipeline of ``tinynet-clr demo``), ``cli`` (the command).
"""
