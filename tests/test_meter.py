"""LossMeter: device-side sums of the loss terms, read at the sync point."""

import math

import torch

from esrgan_lib.training.distributed import DistInfo
from esrgan_lib.training.meter import LossMeter


def test_means_skip_nan_values_and_name_the_bad_term_and_its_first_step():
    meter = LossMeter(torch.device("cpu"))
    meter.add({"l1": torch.tensor(1.0), "gp": torch.tensor(2.0)}, step=1, skipped=None)
    meter.add({"l1": torch.tensor(3.0), "gp": torch.tensor(math.nan)}, step=2, skipped=None)
    meter.add({"l1": torch.tensor(5.0), "gp": torch.tensor(math.inf)}, step=3, skipped=None)
    r = meter.read(DistInfo(), stop=True)
    assert r.means == {"l1": 3.0, "gp": 2.0}  # the NaN/Inf values are counted apart, not averaged in
    assert r.bad_terms == ["gp"] and r.first_bad_step == 2
    assert r.stop and not r.out_of_time
    again = meter.read(DistInfo())  # reset: no values since the last read
    assert math.isnan(again.means["l1"]) and again.first_bad_step == 2  # the first bad step is kept


def test_skipped_steps_count_only_in_a_row():
    meter = LossMeter(torch.device("cpu"))
    for step, skipped in enumerate([1.0, 1.0, 0.0, 1.0, 1.0, 1.0], start=1):
        meter.add({"l1": torch.tensor(0.5)}, step=step, skipped=torch.tensor(skipped))
    assert meter.read(DistInfo(), reset=False).skipped_in_a_row == 3
