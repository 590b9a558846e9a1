"""Read shardsmith dataset versions from Python.

    import shardsmith
    ds = shardsmith.open("out/mnist/latest")      # version, dataset dir or output root
    ds = shardsmith.open("s3://bucket/datasets/mnist")  # the same on an object store, through the shard cache
    train = ds["train"]
    row = train[0]                                # {"image": (H, W, C) ndarray, "label", "source_index", "copy"}
    order = train.order(seed=1, epoch=0)          # the Go trainer's row order of that epoch

shardsmith.torch.Loader is a PyTorch loader over a split (needs torch).
"""

from .dataset import PIXELS, Dataset, ShardError, Split, open
from .manifest import Manifest, ManifestError, Normalize, load as load_manifest, parse as parse_manifest, resolve

__all__ = ["open", "Dataset", "Split", "ShardError", "Manifest", "ManifestError", "Normalize", "load_manifest",
           "parse_manifest", "resolve", "PIXELS"]
__version__ = "0.1.0"
