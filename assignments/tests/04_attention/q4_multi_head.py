from otter.test_files import test_case

OK_FORMAT = False

name = "q4_multi_head"
points = 3

@test_case(points=None, hidden=False)
def test_multi_head_shape(multi_head):
    import torch
    from torch import nn
    mha = nn.MultiheadAttention(32, 4, batch_first=True)
    assert multi_head(torch.randn(2, 10, 32), mha).shape == (2, 10, 32), 'output should be (B, N, C)'

