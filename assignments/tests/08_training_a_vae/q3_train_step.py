from otter.test_files import test_case

OK_FORMAT = False

name = "q3_train_step"
points = 3

@test_case(points=0, hidden=False)
def test_step_returns_float(train_step):
    import torch
    from torch import nn

    class Tiny(nn.Module):
        """A seeded toy VAE: the encoder gives 2 mean and 2 log-variance channels, the decoder maps the mean back."""

        def __init__(self, seed):
            super().__init__()
            torch.manual_seed(seed)
            self.enc = nn.Conv2d(3, 4, 3, padding=1)
            self.dec = nn.Conv2d(2, 3, 3, padding=1)

        def forward(self, x):
            mean, logvar = self.enc(x).chunk(2, dim=1)
            return (self.dec(mean), mean, logvar)
    from encoderlab.grading import own_work
    model = Tiny(0)
    with own_work(train_step):
        loss = train_step(model, torch.optim.SGD(model.parameters(), lr=0.001), torch.randn(2, 3, 8, 8), 1.0)
    assert isinstance(loss, float), f'return the loss as a Python float, got {type(loss).__name__}'

