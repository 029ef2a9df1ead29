from otter.test_files import test_case

OK_FORMAT = False

name = "q2_stream"
points = 4

@test_case(points=0, hidden=False)
def test_stream_one_chunk(stream_conv1d):
    import torch
    import torch.nn.functional as F
    from encoderlab.grading import close, own_work
    x, w, b = (torch.randn(1, 2, 9), torch.randn(3, 2, 3), torch.randn(3))
    with own_work(stream_conv1d):
        got = stream_conv1d([x], w, b, 1)
    close(got, F.conv1d(F.pad(x, (2, 0)), w, b), 'one chunk (the whole clip)')

