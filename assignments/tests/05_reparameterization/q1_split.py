from otter.test_files import test_case

OK_FORMAT = False

name = "q1_split"
points = 2

@test_case(points=0, hidden=False)
def test_split_shapes(split_moments):
    import torch
    from encoderlab.grading import own_work
    with own_work(split_moments):
        mean, logvar = split_moments(torch.randn(2, 8, 4, 4))
    assert mean.shape == logvar.shape == (2, 4, 4, 4), 'mean and logvar should both be (2, 4, 4, 4)'

