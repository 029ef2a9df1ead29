from otter.test_files import test_case

OK_FORMAT = False

name = "q1_layer_norm"
points = 2

@test_case(points=None, hidden=False)
def test_ln_shape(layer_norm_channels_first):
    import torch
    x = torch.randn(2, 8, 5, 5)
    assert layer_norm_channels_first(x, torch.ones(8), torch.zeros(8)).shape == x.shape, 'keep the shape'

