from otter.test_files import test_case

OK_FORMAT = False

name = "q3_per_frame"
points = 2

@test_case(points=0, hidden=False)
def test_frame_norm_shape(frame_group_norm):
    import torch
    from encoderlab.grading import own_work
    with own_work(frame_group_norm):
        y = frame_group_norm(torch.randn(1, 4, 3, 2, 2), 2, torch.ones(4), torch.zeros(4))
    assert y.shape == (1, 4, 3, 2, 2), 'the output keeps (B, C, T, H, W)'

