from otter.test_files import test_case

OK_FORMAT = False

name = "q3_identity"
points = 2

@test_case(points=None, hidden=False)
def test_identity(make_identity, MyResnetBlock):
    import torch
    block = make_identity(MyResnetBlock(32, 32))
    x = torch.randn(2, 32, 5, 5)
    assert torch.allclose(block(x), x), 'block(x) should equal x'

