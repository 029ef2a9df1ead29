from otter.test_files import test_case

OK_FORMAT = False

name = "q1_param_count"
points = 2

@test_case(points=0, hidden=False)
def test_small_block(resnet_params):
    from torch import nn
    from encoderlab.grading import own_work
    with own_work(resnet_params, forbid=[nn.Module.parameters]):
        got = resnet_params(32, 32)
    assert isinstance(got, int), 'return an int'
    assert got == 18624, f'resnet_params(32, 32) should be 18,624, got {got}'

