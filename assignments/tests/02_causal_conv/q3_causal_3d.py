from otter.test_files import test_case

OK_FORMAT = False

name = "q3_causal_3d"
points = 3

@test_case(points=0, hidden=False)
def test_causal_3d_shape(MyCausalConv3d):
    import torch
    from encoderlab.grading import own_work
    with own_work(MyCausalConv3d):
        conv = MyCausalConv3d(3, 8, 3)
        assert conv(torch.randn(1, 3, 5, 8, 8)).shape == (1, 8, 5, 8, 8), 'the output keeps T, H and W'

