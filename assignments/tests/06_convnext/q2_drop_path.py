from otter.test_files import test_case

OK_FORMAT = False

name = "q2_drop_path"
points = 3

@test_case(points=0, hidden=False)
def test_drop_path_eval(drop_path):
    import torch
    from encoderlab.grading import own_work
    x = torch.randn(4, 3, 2, 2)
    with own_work(drop_path):
        assert torch.equal(drop_path(x, 0.5, False), x), 'in evaluation drop_path must return x unchanged'

