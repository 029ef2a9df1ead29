from otter.test_files import test_case

OK_FORMAT = False

name = "q2_sample"
points = 3

@test_case(points=None, hidden=False)
def test_sample_shape(reparameterize):
    import torch
    z = reparameterize(torch.zeros(2, 4, 3, 3), torch.zeros(2, 4, 3, 3), torch.randn(2, 4, 3, 3))
    assert z.shape == (2, 4, 3, 3), 'the sample has the shape of the mean'

