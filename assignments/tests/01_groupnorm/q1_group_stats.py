from otter.test_files import test_case

OK_FORMAT = False

name = "q1_group_stats"
points = 2

@test_case(points=0, hidden=False)
def test_stats_shapes(group_stats):
    import torch
    from encoderlab.grading import own_work
    with own_work(group_stats):
        mean, var = group_stats(torch.randn(2, 6, 4, 4), 3)
    assert mean.shape == (2, 3), f'mean should have shape (B, G) = (2, 3), got {tuple(mean.shape)}'
    assert var.shape == (2, 3), f'var should have shape (B, G) = (2, 3), got {tuple(var.shape)}'

