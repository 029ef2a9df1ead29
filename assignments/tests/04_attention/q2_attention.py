from otter.test_files import test_case

OK_FORMAT = False

name = "q2_attention"
points = 2

@test_case(points=0, hidden=False)
def test_attention_shape(attention):
    import torch
    import torch.nn.functional as F
    from encoderlab.grading import own_work
    with own_work(attention, forbid=[F.scaled_dot_product_attention]):
        out = attention(torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 3))
    assert out.shape == (2, 5, 3), 'output should be (..., N, e) = (2, 5, 3)'

