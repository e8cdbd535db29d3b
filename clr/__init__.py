"""clr: Leslie Smith's cyclical learning rates, the one-cycle policy and the LR range test.

Plain Python policies (``clr.policies``: ``lr = policy(iteration)``), schedulers that apply them to
any optimizer with ``param_groups`` (``clr.schedulers``), and the range test.
"""

# --- policies and schedulers (clr/policies.py, clr/schedulers.py; torch LRSchedulers in clr/torch.py) ---
from .policies import (  # noqa: E402
    SGDR, BoundedPolicy, Cyclic, Decay, Exp, ExpRange, Fixed, Inv, Inverse, MultiStep, OneCycle,
    OneCycleMomentum, Policy, Poly, Stages, Step, Triangular, Triangular2, cycle_length,
    iterations_for_cycles, paper_cifar10_triangular2, round_to_cycles, step_size_from_epochs,
)
from .schedulers import CyclicLR, OneCycleLR, PolicyScheduler  # noqa: E402

_POLICY_EXPORTS = [
    "Policy", "BoundedPolicy", "Fixed", "Step", "MultiStep", "Exp", "Inv", "Poly", "Decay",
    "Triangular", "Triangular2", "ExpRange", "Cyclic", "OneCycle", "OneCycleMomentum", "SGDR",
    "Stages", "Inverse", "paper_cifar10_triangular2",
    "step_size_from_epochs", "cycle_length", "iterations_for_cycles", "round_to_cycles",
    "PolicyScheduler", "CyclicLR", "OneCycleLR",
]
# --- end policies and schedulers ---

__all__ = [*_POLICY_EXPORTS]

# --- range test, suggestions and plots (clr/range_test.py, clr/suggest.py, clr/plots.py) ---
from .range_test import (  # noqa: E402
    FunctionTrainer, ModelTrainer, RangeTestResult, lr_range_test, lr_schedule, make_trainer,
    multi_range_test, run_range_test,
)
from .bounds import find_bounds  # noqa: E402
from .suggest import (  # noqa: E402
    Bounds, suggest_accuracy, suggest_bounds, suggest_minimum, suggest_slide, suggest_steep, suggest_steepest,
    suggest_valley,
)
from .plots import (  # noqa: E402  (matplotlib is imported inside the functions only)
    plot_multi_range_test, plot_range_test, plot_schedule, plot_training_curves,
)

__all__ += [
    "lr_range_test", "run_range_test", "multi_range_test", "make_trainer", "lr_schedule", "RangeTestResult",
    "ModelTrainer", "FunctionTrainer", "find_bounds", "Bounds", "suggest_bounds", "suggest_accuracy",
    "suggest_steep", "suggest_steepest", "suggest_slide", "suggest_minimum", "suggest_valley", "plot_schedule",
    "plot_range_test", "plot_multi_range_test", "plot_training_curves",
]
# --- end range test, suggestions and plots ---
