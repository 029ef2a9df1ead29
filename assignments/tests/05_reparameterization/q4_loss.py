from otter.test_files import test_case

OK_FORMAT = False

name = "q4_loss"
points = 2

@test_case(points=0, hidden=False)
def test_loss_scalar(vae_loss):
    import torch
    from encoderlab.grading import own_work
    with own_work(vae_loss):
        loss = vae_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), torch.zeros(2, 1, 2, 2), torch.zeros(2, 1, 2, 2), 1.0)
    assert loss.dim() == 0, 'return a scalar'
    assert float(loss) == 0.0, 'a perfect reconstruction with a standard-normal posterior has loss 0'

