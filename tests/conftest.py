"""Shared pytest settings for the unit tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """The tests use tiny tensors: one thread is as fast as two, and far faster on a CPU shared with other
    jobs, where waiting for a second thread can cost more than the work itself."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
