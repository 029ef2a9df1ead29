from otter.test_files import test_case

OK_FORMAT = False

name = "q3_module"
points = 2

@test_case(points=None, hidden=False)
def test_7(MyGroupNorm):
    m = MyGroupNorm(2, 4)
    assert sorted((name for name, _ in m.named_parameters())) == ['bias', 'weight'], 'expected parameters weight and bias'

