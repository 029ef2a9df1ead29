from otter.test_files import test_case

OK_FORMAT = False

name = "q1_layer_norm"
points = 2

@test_case(points=0, hidden=False)
def test_ln_shape(layer_norm_channels_first):
    import torch
    from torch import nn
    from encoderlab.grading import own_work
    x = torch.randn(2, 8, 5, 5)
    with own_work(layer_norm_channels_first, forbid=[nn.functional.layer_norm, nn.LayerNorm]):
        assert layer_norm_channels_first(x, torch.ones(8), torch.zeros(8)).shape == x.shape, 'keep the shape'

