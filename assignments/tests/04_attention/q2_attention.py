from otter.test_files import test_case

OK_FORMAT = False

name = "q2_attention"
points = 2

@test_case(points=None, hidden=False)
def test_attention_shape(attention):
    import torch
    out = attention(torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 3))
    assert out.shape == (2, 5, 3), 'output should be (..., N, e) = (2, 5, 3)'

