from otter.test_files import test_case

OK_FORMAT = False

name = "q2_drop_path"
points = 3

@test_case(points=None, hidden=False)
def test_drop_path_eval(drop_path):
    import torch
    x = torch.randn(4, 3, 2, 2)
    assert torch.equal(drop_path(x, 0.5, False), x), 'in evaluation drop_path must return x unchanged'

