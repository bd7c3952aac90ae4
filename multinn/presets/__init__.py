"""Presets: pretrained models by name, bundled in the wheel or downloaded and cached.

```python
import multinn
multinn.list_presets()                          # ['bach-satb-composer', 'bach-satb-feedback', ...]
model = multinn.load_pretrained("bach-satb-composer")
model = multinn.load_pretrained("runs/satb/preset")   # a local preset directory
model = multinn.load_pretrained("hf://owner/name")     # a preset on the Hugging Face Hub (the hub extra)
```

A preset is a directory: `config.json` (the serialised model, with its `PianorollSpec`),
`model.weights.h5` (which records the class and spec it was written for), `metadata.json`
(dataset and split, the training command, metrics, date, versions) and `manifest.json` (the
SHA-256 digest and size of the three others, verified on every load). `seal_preset` seals a
preset written before manifests existed. Importing this package does not import TensorFlow.
"""

from multinn.presets.hub import download_hub_preset, is_hub_handle, model_card, upload_preset
from multinn.presets.preset import (
    CONFIG_FILE,
    MANIFEST_FILE,
    METADATA_FILE,
    PRESET_FILES,
    WEIGHTS_FILE,
    PresetError,
    load_preset_dir,
    read_config,
    read_metadata,
    read_weights_record,
    save_preset,
    seal_preset,
    verify_manifest,
    verify_preset,
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
    "MANIFEST_FILE",
    "METADATA_FILE",
    "PRESETS",
    "PRESET_FILES",
    "PresetError",
    "PresetInfo",
    "PresetSource",
    "WEIGHTS_FILE",
    "download_hub_preset",
    "download_preset",
    "get_preset_info",
    "is_hub_handle",
    "list_presets",
    "load_preset_dir",
    "load_pretrained",
    "model_card",
    "preset_summary",
    "read_config",
    "read_metadata",
    "read_weights_record",
    "register_preset",
    "resolve_preset",
    "save_preset",
    "seal_preset",
    "upload_preset",
    "verify_manifest",
    "verify_preset",
]
