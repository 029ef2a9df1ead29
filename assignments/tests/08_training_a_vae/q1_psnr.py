from otter.test_files import test_case

OK_FORMAT = False

name = "q1_psnr"
points = 2

@test_case(points=0, hidden=False)
def test_psnr_known_value(psnr):
    import torch
    from encoderlab.grading import close, own_work
    x = torch.zeros(2, 3, 4, 4)
    with own_work(psnr):
        got = psnr(x, x + 0.1)
    close(got, torch.full((2,), 26.0206), 'psnr of an error of 0.1 on [-1, 1] images', atol=0.001)

