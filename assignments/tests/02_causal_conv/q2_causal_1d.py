from otter.test_files import test_case

OK_FORMAT = False

name = "q2_causal_1d"
points = 3

@test_case(points=0, hidden=False)
def test_causal_1d_shape(causal_conv1d):
    import torch
    from encoderlab.grading import own_work
    with own_work(causal_conv1d):
        y = causal_conv1d(torch.randn(2, 3, 10), torch.randn(4, 3, 3), torch.zeros(4))
    assert y.shape == (2, 4, 10), 'the output keeps the T = 10 frames'

