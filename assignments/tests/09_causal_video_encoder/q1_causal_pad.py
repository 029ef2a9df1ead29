from otter.test_files import test_case

OK_FORMAT = False

name = "q1_causal_pad"
points = 2

@test_case(points=0, hidden=False)
def test_pad_shape(causal_pad):
    import torch
    from encoderlab.grading import own_work
    with own_work(causal_pad):
        y = causal_pad(torch.randn(1, 2, 5, 4, 4), 3, 3)
    assert y.shape == (1, 2, 7, 6, 6), f'(1, 2, 5, 4, 4) with k = 3 should become (1, 2, 7, 6, 6), got {tuple(y.shape)}'

