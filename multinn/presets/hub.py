"""Presets on the Hugging Face Hub: `hf://owner/name[@revision]` handles (keras-hub's scheme).

`load_pretrained("hf://owner/name")` fetches the repository's preset files once into the Hugging
Face cache (`huggingface_hub.snapshot_download`: `HF_HOME` / `HF_HUB_CACHE`, `HF_HUB_OFFLINE=1`
and tokens as in every Hub client) and verifies them against the preset's `manifest.json` at
every load, like every other preset. `upload_preset(directory, "hf://owner/name")` (keras-hub's
`upload_preset`) verifies a preset, writes a model card (`README.md`) from its metadata beside it
and uploads the folder. Needs the `hub` extra (`pip install "multinn[hub]"`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from multinn.presets.preset import MANIFEST_FILE, PRESET_FILES, PresetError, read_metadata, verify_manifest

HF_SCHEME = "hf://"
MODEL_CARD = "README.md"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
DATA_LICENCES = {
    "bach-satb": "J. S. Bach's chorales (public-domain compositions), from the JSB Chorales corpus "
    "(Boulanger-Lewandowski et al. 2012); see the corpus for its terms",
    "jsb-chorales": "J. S. Bach's chorales (public-domain compositions), from the JSB Chorales corpus "
    "(Boulanger-Lewandowski et al. 2012); see the corpus for its terms",
    "lpd5": "Lakh Pianoroll Dataset (LPD-5), CC BY 4.0 (Dong et al. 2018)",
}
"""What each dataset's licence is, for model cards; other datasets: "see the data's source"."""


def is_hub_handle(name: str | os.PathLike) -> bool:
    """Whether `name` is a Hub handle (`hf://...`) rather than a preset name or directory."""
    return isinstance(name, str) and name.startswith(HF_SCHEME)


def parse_handle(handle: str) -> tuple[str, str | None]:
    """`"hf://owner/name[@revision]"` -> `(repo id, revision or None)`; a malformed handle is a `PresetError`."""
    if not is_hub_handle(handle):
        raise PresetError(f"{handle!r}: not a Hugging Face handle (expected hf://owner/name[@revision])")
    repo_id, _, revision = handle[len(HF_SCHEME) :].partition("@")
    if not _REPO_ID.match(repo_id) or ".." in repo_id or (revision == "" and "@" in handle):
        raise PresetError(f"{handle!r}: expected hf://owner/name[@revision], e.g. hf://multinn/bach-satb-composer")
    return repo_id, revision or None


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise PresetError('hf:// presets need the huggingface_hub package: pip install "multinn[hub]"') from None
    return huggingface_hub


def download_hub_preset(handle: str) -> Path:
    """The local directory of the preset at `handle`, fetched into the Hugging Face cache if needed
    and verified against its `manifest.json`.

    Raises:
        PresetError: A malformed handle, no `huggingface_hub`, an unknown repository or revision,
            a repository that is not a preset, files that do not match the manifest, or no copy
            in the cache while offline.
    """
    hub = _hub()
    from huggingface_hub import errors

    repo_id, revision = parse_handle(handle)
    try:
        path = Path(
            hub.snapshot_download(repo_id, revision=revision, allow_patterns=[*PRESET_FILES, MANIFEST_FILE, MODEL_CARD])
        )
    except errors.RepositoryNotFoundError:
        raise PresetError(f"{handle}: no such repository on the Hugging Face Hub (or it is private: log in)") from None
    except errors.RevisionNotFoundError:
        raise PresetError(f"{handle}: the repository has no revision {revision!r}") from None
    except errors.LocalEntryNotFoundError:
        raise PresetError(
            f"{handle}: not in the Hugging Face cache, and the Hub cannot be reached (offline, or HF_HUB_OFFLINE=1)"
        ) from None
    except (errors.HfHubHTTPError, OSError) as exc:
        raise PresetError(f"{handle}: download from the Hugging Face Hub failed ({str(exc).splitlines()[0]})") from None
    missing = [name for name in (*PRESET_FILES, MANIFEST_FILE) if not (path / name).is_file()]
    if missing:
        raise PresetError(f"{handle}: not a multinn preset repository (no {', '.join(missing)})")
    hint = (
        f"the cached copy in {path} is damaged or was changed: delete it (`hf cache delete`, or remove the "
        "folder) and load again to download a fresh copy"
    )
    verify_manifest(path, label=handle, hint=hint)
    return path


def model_card(directory: str | os.PathLike, handle: str | None = None) -> str:
    """A Hub model card (`README.md`) for the preset in `directory`, from its metadata: what it
    plays, the data and its licence, the training command, the metrics and how to use it."""
    meta = read_metadata(directory)
    dataset = meta.get("dataset") or "unknown data"
    mode = meta.get("mode", "?") + (" with in-frame conditioning" if meta.get("in_frame") else "")
    tracks = ", ".join(meta.get("tracks") or [])
    test = ((meta.get("metrics") or {}).get("test")) or {}
    lines = [
        "---",
        "library_name: multinn",
        "tags:",
        "- music",
        "- midi",
        "- symbolic-music",
        "- keras",
        "- multinn",
        "---",
        "",
        f"# {Path(directory).name if handle is None else parse_handle(handle)[0]}",
        "",
        f"A [multinn](https://github.com/multinn/multinn) preset: MultINN **{mode}** mode, "
        f"{meta.get('generator', '?')} generator, {meta.get('params', 0):,} parameters, trained on "
        f"**{dataset}**. It plays {len(meta.get('tracks') or [])} tracks: {tracks}.",
        "",
        "## Use",
        "",
        "```bash",
        'pip install "multinn[hub]"',
        f"multinn sample --preset {handle or 'hf://OWNER/NAME'} --out sample.mid",
        "```",
        "",
        "```python",
        "import multinn",
        f'model = multinn.load_pretrained("{handle or "hf://OWNER/NAME"}")',
        "rolls = model.generate(256, batch_size=4, seed=0)",
        "```",
        "",
        "## Data",
        "",
        f"- dataset: `{dataset}` (split `{meta.get('split', 'train')}`); validation: {meta.get('validation', '-')}",
        f"- licence of the data: {DATA_LICENCES.get(dataset, 'see the data source')}",
        "",
        "## Training",
        "",
        f"{meta.get('epochs', '?')} epochs (best: {meta.get('best_epoch', '?')}; stopped early: "
        f"{meta.get('stopped_early', '?')}), multinn {meta.get('multinn_version', '?')}, "
        f"Keras {meta.get('keras_version', '?')}. Commands:",
        "",
        "```bash",
        *(meta.get("commands") or [meta.get("command", "")]),
        "```",
        "",
        "## Metrics",
        "",
    ]
    if test.get("nll") is not None:
        lines.append(f"Test NLL: **{test['nll']:.3f}** nats per time step (the sum over tracks and pitches).")
        per_track = {k[4:]: v for k, v in test.items() if k.startswith("nll_")}
        if per_track:
            lines += ["", "| track | NLL |", "|---|---:|", *(f"| {k} | {v:.3f} |" for k, v in per_track.items())]
    else:
        lines.append("No test metrics recorded.")
    lines += ["", "The files are verified against `manifest.json` (SHA-256) at every load.", ""]
    return "\n".join(lines)


def upload_preset(directory: str | os.PathLike, handle: str, private: bool = False, token: str | None = None) -> str:
    """Verify the preset in `directory`, then upload it with a model card to the Hub repository of
    `handle` (created if needed). The directory itself is left as it is (the card is written into
    a temporary copy). Returns the URL of the commit.

    Raises:
        PresetError: A malformed handle, no `huggingface_hub`, a damaged preset, or a failed upload.
    """
    hub = _hub()
    repo_id, revision = parse_handle(handle)
    directory = Path(directory)
    verify_manifest(directory)
    with tempfile.TemporaryDirectory(prefix="multinn-upload-") as staging:
        folder = Path(staging) / directory.name
        folder.mkdir()
        for name in (*PRESET_FILES, MANIFEST_FILE):
            shutil.copy2(directory / name, folder / name)
        (folder / MODEL_CARD).write_text(model_card(directory, HF_SCHEME + repo_id), encoding="utf-8")
        api = hub.HfApi(token=token)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            info = api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                revision=revision,
                commit_message=f"Upload multinn preset {directory.name}",
            )
        except Exception as exc:  # the Hub client's HTTP and auth errors
            raise PresetError(f"uploading {directory} to {handle} failed: {str(exc).splitlines()[0]}") from None
    return str(getattr(info, "commit_url", info))
