from otter.test_files import test_case

OK_FORMAT = False

name = "q3_kl"
points = 3

@test_case(points=0, hidden=False)
def test_kl_zero(kl_to_standard_normal):
    import torch
    from encoderlab.grading import close, own_work
    with own_work(kl_to_standard_normal):
        kl = kl_to_standard_normal(torch.zeros(3, 4, 2, 2), torch.zeros(3, 4, 2, 2))
    close(kl, torch.zeros(3), 'the KL of N(0, 1) to itself')

