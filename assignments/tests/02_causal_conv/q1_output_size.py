from otter.test_files import test_case

OK_FORMAT = False

name = "q1_output_size"
points = 2

@test_case(points=None, hidden=False)
def test_output_size_simple(output_size):
    assert output_size(32, 3, 1, 1) == 32, 'a 3x3 conv with padding 1 keeps the size'
    assert output_size(32, 3, 2, 1) == 16, 'stride 2 halves an even size'

