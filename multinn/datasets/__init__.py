"""Datasets: a registry of piano-roll datasets and `load`.

```python
from multinn import datasets
datasets.list_datasets()          # ['bach-satb', 'jsb-chorales', 'lpd5', 'midi-folder']
train = datasets.load("bach-satb", split="train", path="Jsb16thSeparated.json")
```
"""

from multinn.datasets.jsb_chorales import BACH_SATB_SPEC, JSB_CHORALES_SPEC, read_bach_satb, read_jsb_chorales
from multinn.datasets.lpd5 import LPD5_SPEC, read_lpd5
from multinn.datasets.midi_folder import read_midi_folder
from multinn.datasets.registry import (
    DATASETS,
    DatasetInfo,
    DataSource,
    get_dataset_info,
    list_datasets,
    load,
    register_dataset,
)

__all__ = [
    "BACH_SATB_SPEC",
    "DATASETS",
    "DataSource",
    "DatasetInfo",
    "JSB_CHORALES_SPEC",
    "LPD5_SPEC",
    "get_dataset_info",
    "list_datasets",
    "load",
    "read_bach_satb",
    "read_jsb_chorales",
    "read_lpd5",
    "read_midi_folder",
    "register_dataset",
]
