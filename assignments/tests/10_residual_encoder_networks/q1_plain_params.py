from otter.test_files import test_case

OK_FORMAT = False

name = "q1_plain_params"
points = 2

@test_case(points=0, hidden=False)
def test_plain_example(plain_params):
    from torch import nn
    from encoderlab.grading import own_work
    with own_work(plain_params, forbid=[nn.Module.parameters]):
        got = plain_params(16, 16, 3, False)
    assert got == 4704, f'plain_params(16, 16, 3, False) should be 4,704, got {got}'

