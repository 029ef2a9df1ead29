from otter.test_files import test_case

OK_FORMAT = False

name = "q4_per_frame"
points = 2

@test_case(points=0, hidden=False)
def test_per_frame_shape(per_frame_norm):
    import torch
    from torch import nn
    from encoderlab.grading import own_work
    video = torch.randn(2, 4, 3, 5, 5)
    with own_work(per_frame_norm):
        assert per_frame_norm(video, nn.GroupNorm(2, 4)).shape == video.shape, 'the output must be (B, C, T, H, W)'

