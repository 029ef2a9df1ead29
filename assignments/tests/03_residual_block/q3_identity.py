from otter.test_files import test_case

OK_FORMAT = False

name = "q3_identity"
points = 2

@test_case(points=0, hidden=False)
def test_identity(make_identity, MyResnetBlock):
    import torch
    from encoderlab.grading import close, own_work
    x = torch.randn(2, 32, 5, 5)
    with own_work(make_identity, MyResnetBlock):
        block = make_identity(MyResnetBlock(32, 32))
        close(block(x), x, 'block(x) after make_identity')

