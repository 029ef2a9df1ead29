from otter.test_files import test_case

OK_FORMAT = False

name = "q3_block"
points = 3

@test_case(points=0, hidden=False)
def test_block_shape(MyAttnBlock):
    import torch
    from encoderlab.grading import own_work
    x = torch.randn(1, 64, 4, 4)
    with own_work(MyAttnBlock):
        assert MyAttnBlock(64)(x).shape == x.shape, 'the block keeps the shape'

