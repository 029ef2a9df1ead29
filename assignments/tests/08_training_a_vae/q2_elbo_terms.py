from otter.test_files import test_case

OK_FORMAT = False

name = "q2_elbo_terms"
points = 3

@test_case(points=0, hidden=False)
def test_elbo_keys(elbo_terms):
    import torch
    from encoderlab.grading import own_work
    with own_work(elbo_terms):
        terms = elbo_terms(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), torch.zeros(2, 2, 2, 2), torch.zeros(2, 2, 2, 2))
    assert sorted(terms) == ['kl', 'loss', 'recon'], f'expected the keys recon, kl and loss, got {sorted(terms)}'
    assert all((t.shape == (2,) for t in terms.values())), 'every term has shape (B,)'

