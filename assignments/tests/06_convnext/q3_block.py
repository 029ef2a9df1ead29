from otter.test_files import test_case

OK_FORMAT = False

name = "q3_block"
points = 4

@test_case(points=0, hidden=False)
def test_block_shape_and_count(MyConvNeXtBlock):
    import torch
    from encoderlab.grading import own_work
    with own_work(MyConvNeXtBlock):
        block = MyConvNeXtBlock(96)
        assert block(torch.randn(1, 96, 8, 8)).shape == (1, 96, 8, 8), 'the block keeps the shape'
    count = sum((p.numel() for p in block.parameters()))
    assert count == 79296, f'a ConvNeXt block of width 96 has 79,296 parameters, yours has {count:,}'

