from otter.test_files import test_case

OK_FORMAT = False

name = "q2_group_norm"
points = 4

@test_case(points=0, hidden=False)
def test_gn_shape(my_group_norm):
    import torch
    from torch import nn
    from encoderlab.grading import own_work
    x = torch.randn(2, 8, 5, 5)
    with own_work(my_group_norm, forbid=[nn.functional.group_norm, nn.GroupNorm]):
        assert my_group_norm(x, 4).shape == x.shape, "the output must have the input's shape"

