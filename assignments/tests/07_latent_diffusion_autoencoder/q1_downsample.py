from otter.test_files import test_case

OK_FORMAT = False

name = "q1_downsample"
points = 2

@test_case(points=0, hidden=False)
def test_downsample_shape(downsample):
    import torch
    from encoderlab.grading import own_work
    with own_work(downsample):
        y = downsample(torch.randn(1, 4, 11, 8), torch.randn(4, 4, 3, 3), torch.zeros(4))
    assert y.shape == (1, 4, 5, 4), f'(1, 4, 11, 8) should become (1, 4, 5, 4), got {tuple(y.shape)}'

