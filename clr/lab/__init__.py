"""clr.lab: cyclical learning rates run end to end on tinynet -- the product behind ``tinynet-clr``.

    tinynet-clr demo                     # or: python -m clr.lab demo

Modules: ``models`` (networks by name, each seeded), ``train`` (the training loop and
``iterations_to_reach``, the paper's measure), ``records`` (run metadata, atomic writers,
mean ± std over seeds), ``demo`` (the pipeline of ``tinynet-clr demo``), ``cli`` (the command).

Unlike the rest of clr, this subpackage needs tinynet; ``import clr`` does not import it.
The scripts in the repository's ``experiments/`` folder build on these modules.
"""
