from otter.test_files import test_case

OK_FORMAT = False

name = "q4_frames"
points = 2

@test_case(points=0, hidden=False)
def test_frames_rule(frames_after):
    from encoderlab.grading import own_work
    with own_work(frames_after):
        assert frames_after(17, 3) == 3, '17 = 1 + 8*2 frames through 3 stride-2 stages give 1 + 2 = 3'
        assert frames_after(1, 3) == 1, 'an image (T = 1) stays one frame'

