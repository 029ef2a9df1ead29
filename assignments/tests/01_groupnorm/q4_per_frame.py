from otter.test_files import test_case

OK_FORMAT = False

name = "q4_per_frame"
points = 2

@test_case(points=None, hidden=False)
def test_9(per_frame_norm):
    import torch
    from torch import nn
    video = torch.randn(2, 4, 3, 5, 5)
    assert per_frame_norm(video, nn.GroupNorm(2, 4)).shape == video.shape, 'the output must be (B, C, T, H, W)'

