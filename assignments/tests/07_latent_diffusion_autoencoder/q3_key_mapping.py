from otter.test_files import test_case

OK_FORMAT = False

name = "q3_key_mapping"
points = 3

@test_case(points=0, hidden=False)
def test_key_examples(to_diffusers_key):
    from encoderlab.grading import own_work
    with own_work(to_diffusers_key):
        got = to_diffusers_key('encoder.down.1.block.0.conv1.weight')
    assert got == 'encoder.down_blocks.1.resnets.0.conv1.weight', f'got {got!r}'
    with own_work(to_diffusers_key):
        assert to_diffusers_key('encoder.conv_in.weight') == 'encoder.conv_in.weight', 'conv_in keeps its name'

