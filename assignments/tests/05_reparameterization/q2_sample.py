from otter.test_files import test_case

OK_FORMAT = False

name = "q2_sample"
points = 3

@test_case(points=0, hidden=False)
def test_sample_shape(reparameterize):
    import torch
    from encoderlab.grading import own_work
    with own_work(reparameterize):
        z = reparameterize(torch.zeros(2, 4, 3, 3), torch.zeros(2, 4, 3, 3), torch.randn(2, 4, 3, 3))
    assert z.shape == (2, 4, 3, 3), 'the sample has the shape of the mean'

