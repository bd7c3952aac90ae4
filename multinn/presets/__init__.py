"""Presets: pretrained models by name, bundled in the wheel or downloaded and cached.

```python
import multinn
multinn.list_presets()                          # ['bach-satb-composer', 'bach-satb-feedback', ...]
model = multinn.load_pretrained("bach-satb-composer")
model = multinn.load_pretrained("runs/satb/preset")   # a local preset directory
```

A preset is a directory: `config.json` (the serialised model, with its `PianorollSpec`),
`model.weights.h5` and `metadata.json` (dataset and split, the training command, metrics,
date, versions). Importing this package does not import TensorFlow.
"""

from multinn.presets.preset import (
    CONFIG_FILE,
    METADATA_FILE,
    PRESET_FILES,
    WEIGHTS_FILE,
    PresetError,
    load_preset_dir,
    read_config,
    read_metadata,
    save_preset,
)
from multinn.presets.registry import (
    DEFAULT_PRESET,
    PRESETS,
    PresetInfo,
    PresetSource,
    download_preset,
    get_preset_info,
    list_presets,
    load_pretrained,
    preset_summary,
    register_preset,
    resolve_preset,
)

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_PRESET",
    "METADATA_FILE",
    "PRESETS",
    "PRESET_FILES",
    "PresetError",
    "PresetInfo",
    "PresetSource",
    "WEIGHTS_FILE",
    "download_preset",
    "get_preset_info",
    "list_presets",
    "load_preset_dir",
    "load_pretrained",
    "preset_summary",
    "read_config",
    "read_metadata",
    "register_preset",
    "resolve_preset",
    "save_preset",
]
