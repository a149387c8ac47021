"""The run configurations: the settings every run shares are declared, documented and checked once."""
import dataclasses

import pytest

from rnnstab.config import Config, NetworkConfig, field_help
from rnnstab.rl import RLConfig


@pytest.mark.parametrize("cls", [Config, RLConfig])
def test_every_flag_has_its_help(cls):
  helps = field_help(cls)
  assert set(helps) == {f.name for f in dataclasses.fields(cls)}
  assert all(text for text in helps.values())
  assert "AdaBelief" in helps["lsc_lr"]  # documented once, on NetworkConfig


def test_each_config_keeps_its_own_defaults():
  assert (Config().cell, Config().hidden) == ("brc", 64)
  assert (RLConfig().cell, RLConfig().hidden) == ("gru", 32)  # the warmup paper's T-maze network
  shared = {f.name for f in dataclasses.fields(NetworkConfig)}
  assert shared <= {f.name for f in dataclasses.fields(Config)} & {f.name for f in dataclasses.fields(RLConfig)}


@pytest.mark.parametrize("cls", [Config, RLConfig])
@pytest.mark.parametrize("bad, message", [
    (dict(cell="elman"), "--cell: unknown cell 'elman'; valid choices: alif"),
    (dict(seeds=0), "--seeds: must be a positive integer"),
    (dict(seed=-1), "--seed: must be a non-negative integer"),
    (dict(lsc_method="qr"), "--lsc_method: unknown method 'qr'"),
    (dict(vaa_target=1.5), "--vaa_target: must be in (0, 1]"),
    (dict(double=True, hidden=33), "--hidden: must be even with --double"),
    (dict(seed_parallel="3"), "--seed_parallel: group size 3 must divide --seeds=4"),
])
def test_shared_settings_are_checked_for_every_kind_of_run(cls, bad, message):
  with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
    cls(**bad)
