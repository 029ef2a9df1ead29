from otter.test_files import test_case

OK_FORMAT = False

name = "q1_tokens"
points = 2

@test_case(points=0, hidden=False)
def test_token_shapes(to_tokens, from_tokens):
    import torch
    from encoderlab.grading import own_work
    x = torch.randn(2, 8, 3, 5)
    with own_work(to_tokens, from_tokens):
        assert to_tokens(x).shape == (2, 15, 8), 'to_tokens should give (B, H*W, C) = (2, 15, 8)'
        assert torch.equal(from_tokens(to_tokens(x), 3, 5), x), 'from_tokens(to_tokens(x)) should give x back'

