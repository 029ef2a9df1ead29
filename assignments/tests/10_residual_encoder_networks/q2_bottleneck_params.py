from otter.test_files import test_case

OK_FORMAT = False

name = "q2_bottleneck_params"
points = 2

@test_case(points=0, hidden=False)
def test_bottleneck_example(bottleneck_params):
    from torch import nn
    from encoderlab.grading import own_work
    with own_work(bottleneck_params, forbid=[nn.Module.parameters]):
        got = bottleneck_params(16, 16, 3, False)
    assert got == 2960, f'bottleneck_params(16, 16, 3, False) should be 2,960, got {got}'

