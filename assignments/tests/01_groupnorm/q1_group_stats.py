from otter.test_files import test_case

OK_FORMAT = False

name = "q1_group_stats"
points = 2

@test_case(points=None, hidden=False)
def test_1(group_stats):
    import torch
    x = torch.randn(2, 6, 4, 4)
    mean, var = group_stats(x, 3)
    assert mean.shape == (2, 3), f'mean should have shape (B, G) = (2, 3), got {tuple(mean.shape)}'
    assert var.shape == (2, 3), f'var should have shape (B, G) = (2, 3), got {tuple(var.shape)}'

