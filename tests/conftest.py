"""Shared pytest settings for the unit tests."""

import os

import pytest
import torch
from hypothesis import settings


@pytest.fixture(autouse=True)
def _one_thread():
    """The tests use tiny tensors: one thread is as fast as two, and far faster on a CPU shared with other
    jobs, where waiting for a second thread can cost more than the work itself."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Property tests draw new examples on every run. In CI (CI=true) they draw a fixed sequence instead, so a
# submission's result does not depend on luck; locally they keep exploring.
if os.environ.get("CI"):
    settings.register_profile("ci", derandomize=True, database=None)
    settings.load_profile("ci")
