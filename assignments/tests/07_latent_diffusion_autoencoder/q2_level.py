from otter.test_files import test_case

OK_FORMAT = False

name = "q2_level"
points = 3

@test_case(points=0, hidden=False)
def test_level_names(MyDownLevel):
    import torch
    from encoderlab.grading import own_work
    with own_work(MyDownLevel):
        level = MyDownLevel(32, 64, 2, True)
        y = level(torch.randn(1, 32, 8, 8))
    assert y.shape == (1, 64, 4, 4), f'(1, 32, 8, 8) should become (1, 64, 4, 4), got {tuple(y.shape)}'
    prefixes = sorted({'.'.join(k.split('.')[:2]) for k in level.state_dict()})
    assert prefixes == ['block.0', 'block.1', 'downsample.conv'], f'unexpected names {prefixes}'

