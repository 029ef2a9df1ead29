from otter.test_files import test_case

OK_FORMAT = False

name = "q1_param_count"
points = 2

@test_case(points=None, hidden=False)
def test_small_block(resnet_params):
    assert isinstance(resnet_params(32, 32), int), 'return an int'
    assert resnet_params(32, 32) == 18624, f'resnet_params(32, 32) should be 18,624, got {resnet_params(32, 32)}'

