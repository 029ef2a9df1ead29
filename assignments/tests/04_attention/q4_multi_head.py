from otter.test_files import test_case

OK_FORMAT = False

name = "q4_multi_head"
points = 3

@test_case(points=0, hidden=False)
def test_multi_head_shape(multi_head):
    import torch
    from torch import nn
    from encoderlab.grading import own_work
    mha = nn.MultiheadAttention(32, 4, batch_first=True)
    off_limits = [nn.MultiheadAttention, nn.functional.multi_head_attention_forward]
    with own_work(multi_head, forbid=off_limits):
        assert multi_head(torch.randn(2, 10, 32), mha).shape == (2, 10, 32), 'output should be (B, N, C)'

