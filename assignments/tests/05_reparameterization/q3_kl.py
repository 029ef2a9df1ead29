from otter.test_files import test_case

OK_FORMAT = False

name = "q3_kl"
points = 3

@test_case(points=None, hidden=False)
def test_kl_zero(kl_to_standard_normal):
    import torch
    kl = kl_to_standard_normal(torch.zeros(3, 4, 2, 2), torch.zeros(3, 4, 2, 2))
    assert kl.shape == (3,), f'the KL should have shape (B,) = (3,), got {tuple(kl.shape)}'
    assert torch.allclose(kl, torch.zeros(3)), 'the KL of N(0, 1) to itself is 0'

