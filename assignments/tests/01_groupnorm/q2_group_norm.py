from otter.test_files import test_case

OK_FORMAT = False

name = "q2_group_norm"
points = 4

@test_case(points=None, hidden=False)
def test_3(my_group_norm):
    import torch
    x = torch.randn(2, 8, 5, 5)
    assert my_group_norm(x, 4).shape == x.shape, "the output must have the input's shape"

