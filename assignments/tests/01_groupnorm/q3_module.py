from otter.test_files import test_case

OK_FORMAT = False

name = "q3_module"
points = 2

@test_case(points=0, hidden=False)
def test_module_parameters(MyGroupNorm):
    from torch import nn
    from encoderlab.grading import own_work
    with own_work(MyGroupNorm, forbid=[nn.functional.group_norm, nn.GroupNorm]):
        m = MyGroupNorm(2, 4)
    assert sorted((name for name, _ in m.named_parameters())) == ['bias', 'weight'], 'expected parameters weight and bias'

