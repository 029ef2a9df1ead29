from otter.test_files import test_case

OK_FORMAT = False

name = "q1_output_size"
points = 2

@test_case(points=0, hidden=False)
def test_output_size_simple(output_size):
    from encoderlab.grading import own_work
    with own_work(output_size):
        assert output_size(32, 3, 1, 1) == 32, 'a 3x3 conv with padding 1 keeps the size'
        assert output_size(32, 3, 2, 1) == 16, 'stride 2 halves an even size'

