"""Images tiled into one grid, and the sample grids the command line writes."""

import matplotlib.image
import torch
from train_helpers import MICRO

from encoderlab.train import image_grid
from encoderlab.train.grids import write_sample_grid
from encoderlab.vae import VAE


def test_image_grid_places_each_image_in_unit_range():
    grid = image_grid(torch.stack([torch.full((1, 2, 2), v) for v in (-1.0, 1.0, 0.0)]), nrow=2, padding=1)
    assert tuple(grid.shape) == (7, 7, 1) and grid[1, 1, 0] == 0 and grid[1, 4, 0] == 1 and grid[4, 1, 0] == 0.5
    assert grid[0, 0, 0] == 1 and grid[4, 4, 0] == 1  # padding and the empty fourth cell are white


def test_sample_grid_has_three_rows_and_keeps_the_mode(tmp_path):
    torch.manual_seed(0)
    vae = VAE(im_channels=1, **MICRO).train()
    path = tmp_path / "samples" / "grid.png"
    write_sample_grid(vae, torch.zeros(4, 1, 8, 8), path, seed=1)
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (8 * (3 * 9 + 1), 8 * (4 * 9 + 1))  # 3 rows of 4 images of 8x8, enlarged 8x
    assert vae.training
