from otter.test_files import test_case

OK_FORMAT = False

name = "q2_block"
points = 4

@test_case(points=0, hidden=False)
def test_shapes_and_names(MyResnetBlock):
    import torch
    from encoderlab.grading import own_work
    with own_work(MyResnetBlock):
        block = MyResnetBlock(32, 64)
        assert block(torch.randn(1, 32, 8, 8)).shape == (1, 64, 8, 8), 'output should be (1, 64, 8, 8)'
        assert not hasattr(MyResnetBlock(32, 32), 'nin_shortcut'), 'no nin_shortcut when the channels do not change'
    names = {name.split('.')[0] for name, _ in block.named_parameters()}
    assert names == {'norm1', 'conv1', 'norm2', 'conv2', 'nin_shortcut'}, f'unexpected submodules {sorted(names)}'

