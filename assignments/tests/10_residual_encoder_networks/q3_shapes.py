from otter.test_files import test_case

OK_FORMAT = False

name = "q3_shapes"
points = 3

@test_case(points=0, hidden=False)
def test_shapes_example(stage_shapes):
    from encoderlab.grading import own_work
    with own_work(stage_shapes):
        got = stage_shapes(64, 64, 16, 3)
    assert [tuple(s) for s in got] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)], f'got {got}'

