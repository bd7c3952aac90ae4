"""`multinn train`: train a MultINN mode on a dataset, resumably, and write a preset."""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import shutil
import sys
import warnings
from pathlib import Path

import click

from multinn.choices import ENCODERS, FEEDBACK_MODULES, GENERATORS, INPUT_SHARDING, MODES, PRECISIONS, STRATEGIES
from multinn.cli.common import parse_units, quiet_tensorflow, stderr_console, stdout_console
from multinn.errors import DatasetError, MultinnError

DEFAULT_CROP_BEATS = {"bach-satb": 16, "jsb-chorales": 32}
"""Training crops per dataset (other datasets: 16 beats); `--crop-beats 0` trains on whole pieces."""

# Options that define the model and its data: a resumed run keeps the saved values.
RUN_OPTIONS = (
    "mode",
    "generator",
    "encoder",
    "encoder_units",
    "rnn_units",
    "num_hidden",
    "dropout",
    "feedback",
    "feedback_units",
    "in_frame",
    "in_frame_units",
    "data",
    "spec",
    "batch_size",
    "lr",
    "crop_beats",
    "transpose",
    "seed",
    "max_pieces",
    "pretrain_epochs",
    "mixed_precision",
)
ADJUSTABLE_OPTIONS = ("patience", "sample_every")
"""Options of the training loop that a resumed run keeps unless they are given again (then the new value is kept)."""


def command_line(ctx: click.Context) -> str:
    """The command as typed: `multinn` and its arguments, shell-quoted."""
    argv = ctx.meta.get("multinn.argv")
    return shlex.join(["multinn", *(argv if argv is not None else sys.argv[1:])])


def load_splits(name: str, data_file: str | None, spec_value: str | None, max_pieces: int | None, console) -> dict:
    """All three splits of a dataset (optionally their first `max_pieces` pieces), skipped files noted."""
    from multinn import datasets
    from multinn.cli.common import load_spec

    if name == "shards":
        return load_shards(data_file, spec_value, max_pieces, console)
    spec = load_spec(spec_value) if spec_value else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skipped files are summed up below
        splits = datasets.load(name, split=None, path=data_file, spec=spec)
    skipped = next(iter(splits.values())).metadata.get("skipped") or []
    if skipped:
        console.print(f"[yellow]note:[/] skipped {len(skipped)} unreadable file(s); `multinn data prepare` lists them")
    if max_pieces:
        splits = {s: ds.subset(range(min(max_pieces, len(ds)))) for s, ds in splits.items()}
    for split, ds in splits.items():
        if not len(ds):
            raise DatasetError(f"dataset {name!r} has no piece in its {split!r} split")
    return splits


def load_shards(data_file: str | None, spec_value: str | None, max_pieces: int | None, console) -> dict:
    """`--data shards`: the splits of a shard directory (`ShardedSplit`s, streamed), checksums verified."""
    from multinn.cli.common import load_spec
    from multinn.data import ShardedDataset

    if not data_file:
        raise DatasetError("--data shards needs --data-file DIR (written by `multinn data prepare --shards`)")
    sharded = ShardedDataset(data_file)
    if spec_value:
        load_spec(spec_value).check_compatible(sharded.spec, what=f"shards ({sharded.directory})")
    missing = [s for s in ("train", "valid", "test") if s not in sharded]
    if missing:
        raise DatasetError(f"{sharded.directory} has no {missing[0]!r} split; its splits are {list(sharded.splits)}")
    with console.status(f"checking the SHA-256 of the shard files in {sharded.directory}"):
        sharded.verify()
    splits = {s: sharded[s].head(max_pieces) if max_pieces else sharded[s] for s in ("train", "valid", "test")}
    for split, ds in splits.items():
        if not len(ds):
            raise DatasetError(f"{sharded.directory} has no piece in its {split!r} split")
    return splits


def pretraining_data(train, seed: int, max_frames: int = 100_000):
    """What pre-training reads: the train split, or for shards a seeded in-memory sample of `max_frames` frames."""
    from multinn.data import ShardedSplit

    return train.load(max_frames=max_frames, seed=seed) if isinstance(train, ShardedSplit) else train


def build_model(options: dict, spec):
    """A fresh, compiled model from the command-line options; its initial weights follow `--seed`."""
    import keras

    from multinn.models import MODES

    kwargs = dict(
        encoder=options["encoder"],
        encoder_units=options["encoder_units"] or [],
        generator=options["generator"],
        rnn_units=options["rnn_units"],
        num_hidden=options["num_hidden"],
        dropout=options["dropout"],
        seed=options["seed"],
    )
    if options["mode"] == "feedback":
        kwargs.update(feedback=options["feedback"], feedback_units=options["feedback_units"])
    if options.get("in_frame"):  # runs from before the option recorded none
        kwargs.update(in_frame=True, in_frame_units=options.get("in_frame_units"))
    elif options.get("in_frame_units"):
        raise MultinnError("--in-frame-units needs --in-frame")
    if options.get("mixed_precision"):
        from multinn.distribute import precision_policy

        kwargs["dtype"] = precision_policy(options["mixed_precision"])
    keras.utils.set_random_seed(options["seed"])  # the initial weights (Python, NumPy and TF seeds)
    try:
        model = MODES[options["mode"]](spec, **kwargs)
    except ValueError as exc:
        raise MultinnError(f"cannot build a {options['mode']} model: {exc}") from None
    model.compile(optimizer=keras.optimizers.Adam(options["lr"]))
    # Build the optimizer on every trainable variable, as a reloaded checkpoint does: built
    # lazily on the variables that get gradients, its state would not load back on --resume.
    model.optimizer.build(model.trainable_variables)
    return model


def check_input_sharding(choice: str, data: str) -> None:
    """`--input-sharding files` needs shard files to split over the workers."""
    if choice == "files" and data != "shards":
        raise MultinnError(
            "--input-sharding files needs --data shards (shard files to split over the workers; "
            "write them with `multinn data prepare --shards`)"
        )


def input_sharding(choice: str, data: str, strategy) -> str:
    """`--input-sharding` resolved: `"files"` (per-worker shard files) or `"data"` (every worker reads all)."""
    from multinn.distribute import num_workers

    check_input_sharding(choice, data)
    if choice == "auto":
        choice = "files" if data == "shards" else "data"
    return "files" if choice == "files" and num_workers(strategy) > 1 else "data"  # one machine: nothing to split


def per_worker_files(split, batch_size: int, pipeline: dict, strategy, console):
    """The training input of a multi-worker run from shards: each worker streams only its own shard
    files (`ShardedSplit.tf_dataset(input_context=...)`), repeated, in per-replica batches."""
    from multinn.distribute import num_workers

    workers = num_workers(strategy)
    if len(split.shards) < workers:
        raise DatasetError(
            f"the train split has {len(split.shards)} shard file(s) for {workers} workers; prepare smaller "
            "shards (--shard-size) so that every worker gets files, or use --input-sharding data"
        )
    contexts = []

    def train_input(context):
        contexts.append(context)
        per_replica = context.get_per_replica_batch_size(batch_size)
        return split.tf_dataset(per_replica, repeat=True, drop_remainder=True, input_context=context, **pipeline)

    dataset = strategy.distribute_datasets_from_function(train_input)
    for context in contexts:
        files = split.worker_files(context.num_input_pipelines, context.input_pipeline_id)
        console.print(
            f"input pipeline {context.input_pipeline_id + 1} of {context.num_input_pipelines} streams "
            f"{len(files)} of {len(split.shards)} train shard files: {', '.join(f.name for f in files)}"
        )
    return dataset


def evaluate_splits(model, splits: dict, names, batch_size: int, console) -> dict:
    """`{split: metrics}` on whole pieces (NLL in nats per step, per track, frame metrics)."""
    from multinn.callbacks import EvaluationProgress
    from multinn.cli.evaluate import evaluation_pipeline
    from multinn.distribute import with_auto_shard_policy

    out = {}
    for split in names:
        ds = splits[split]
        steps = math.ceil(len(ds) / batch_size)
        logs = model.evaluate(
            with_auto_shard_policy(evaluation_pipeline(ds, batch_size)),
            return_dict=True,
            verbose=0,
            callbacks=[EvaluationProgress(console, steps, f"evaluating {split}")],
        )
        out[split] = {k: float(v) for k, v in logs.items()}
    return out


@click.command()
@click.option("--mode", type=click.Choice(MODES), default="joint", show_default=True, help="MultINN mode.")
@click.option(
    "--generator",
    type=click.Choice(GENERATORS),
    default="nade",
    show_default=True,
    help="Estimator of each generator (composer: nade only).",
)
@click.option(
    "--encoder", type=click.Choice(ENCODERS), default="pass", show_default=True, help="Per-track frame encoder."
)
@click.option(
    "--encoder-units", callback=parse_units, metavar="N[,N...]", help="DBN encoder sizes (with --encoder dbn)."
)
@click.option(
    "--rnn-units",
    default="128",
    show_default=True,
    callback=parse_units,
    metavar="N[,N...]",
    help="LSTM sizes of each generator.",
)
@click.option(
    "--num-hidden", type=click.IntRange(1), default=64, show_default=True, help="Hidden units of each estimator."
)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="Dropout on LSTM outputs.",
)
@click.option(
    "--feedback",
    type=click.Choice(FEEDBACK_MODULES),
    default="dense",
    show_default=True,
    help="Feedback module (feedback mode).",
)
@click.option(
    "--feedback-units",
    default="64",
    show_default=True,
    callback=parse_units,
    metavar="N[,N...]",
    help="Feedback module sizes (feedback mode).",
)
@click.option(
    "--in-frame",
    is_flag=True,
    help="In-frame conditioning (composer, jamming, feedback): each voice also hears the current notes of "
    "the voices before it in a track order, random in training; harmonising puts the fixed voices first.",
)
@click.option(
    "--in-frame-units",
    type=click.IntRange(1),
    metavar="N",
    help="With --in-frame: encode what a voice hears with one shared tanh layer of N units (default: none).",
)
@click.option(
    "--data",
    required=True,
    metavar="NAME",
    help="Dataset: jsb-chorales, bach-satb, lpd5, midi-folder, or shards (a `data prepare --shards` directory).",
)
@click.option(
    "--data-file",
    type=click.Path(),
    help="Local file or folder of the dataset (else downloaded); with --data shards, the shard directory.",
)
@click.option(
    "--spec",
    metavar="NAME|FILE.json",
    help="Read the data into this spec (lpd5, bach-satb, jsb-chorales or a JSON file).",
)
@click.option(
    "--epochs", type=click.IntRange(1), default=50, show_default=True, help="Total epochs (counting resumed ones)."
)
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option(
    "--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True, help="Adam learning rate."
)
@click.option(
    "--crop-beats",
    type=click.IntRange(0),
    help="Training crop length in beats (0: whole pieces) [default: 16, jsb-chorales 32].",
)
@click.option(
    "--transpose",
    type=click.IntRange(0, 127),
    default=0,
    show_default=True,
    help="Random transposition of training crops, up to this many semitones.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of weights, shuffling, crops and samples.")
@click.option(
    "--patience",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Stop after this many epochs without a better validation NLL.",
)
@click.option(
    "--sample-every",
    type=click.IntRange(0),
    default=10,
    show_default=True,
    metavar="N",
    help="Write a MIDI sample to OUT/samples every N epochs (0: never).",
)
@click.option(
    "--pretrain-epochs",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Epochs of DBN-encoder and RBM-generator pre-training (fresh runs only).",
)
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default="default",
    show_default=True,
    help="tf.distribute strategy: one device, all GPUs of this machine, or the workers of TF_CONFIG "
    "(docs/distributed.md). --batch-size is the global batch.",
)
@click.option(
    "--input-sharding",
    type=click.Choice(INPUT_SHARDING),
    default="auto",
    show_default=True,
    help="How a multi-worker run splits the training data: files (each worker streams only its own "
    "shard files; --data shards), data (every worker reads all of it and keeps its share of each "
    "batch). auto: files for --data shards, else data.",
)
@click.option(
    "--mixed-precision",
    type=click.Choice([p for p in PRECISIONS if p != "float32"]),
    is_flag=False,
    flag_value="auto",
    help="Train in a mixed dtype policy (likelihoods stay float32); alone: mixed_float16 on a GPU, "
    "else mixed_bfloat16.",
)
@click.option("--max-pieces", type=click.IntRange(1), hidden=True, help="Use only the first N pieces of each split.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Training directory.")
@click.option("--resume", is_flag=True, help="Continue the run in OUT (epochs done and optimizer state).")
@click.pass_context
def train(ctx: click.Context, **options) -> None:
    """Train a model and write OUT/preset.

    OUT receives checkpoints/epoch-N.keras (every epoch, optimizer state included),
    checkpoints/best-N.weights.h5 (best validation NLL), state.json, logs/ (TensorBoard),
    samples/*.mid and, at the end, preset/ (load it with --model OUT or load_pretrained).
    Training stops early when the validation NLL (whole pieces) has not improved for
    --patience epochs; RBM generators whose NLL is an AIS estimate validate on their
    pseudo-NLL instead, and the AIS NLL of the best epoch is reported at the end. With
    --resume, the model and data options saved in OUT are used and --epochs is the new total.

    \b
    Example:
      multinn train --mode composer --data bach-satb --epochs 30 --out runs/satb
      multinn train --mode composer --data bach-satb --epochs 60 --out runs/satb --resume
    """
    from multinn.cli.run_state import CHECKPOINT_DIR, STATE_FILE, new_state, read_state

    out: Path = options["out"]
    err = stderr_console()
    check_input_sharding(options["input_sharding"], options["data"])  # before TensorFlow starts
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow" and (options["strategy"] != "default" or options["mixed_precision"]):
        raise MultinnError(
            f"--strategy {options['strategy']} and --mixed-precision need the TensorFlow backend "
            f"(KERAS_BACKEND={backend}); docs/models.md says what runs where"
        )
    if options["mixed_precision"] == "auto" and not options["resume"]:
        from multinn.distribute import precision_policy

        options["mixed_precision"] = precision_policy("auto")  # the run records the policy it uses
    if options["resume"]:
        state = read_state(out)
        if not state:
            raise MultinnError(f"{out} holds no run to resume (no {STATE_FILE}); drop --resume")
        saved = state["options"]
        for key in RUN_OPTIONS:
            given = ctx.get_parameter_source(key) == click.core.ParameterSource.COMMANDLINE
            if given and options[key] != saved.get(key):
                flag = "--" + key.replace("_", "-")
                raise MultinnError(
                    f"{out} was trained with {flag} {saved.get(key)}, not {options[key]}; "
                    f"drop {flag} or use a new --out"
                )
            options[key] = saved.get(key)
        for key in ADJUSTABLE_OPTIONS:  # kept unless given again; a new value is recorded
            if ctx.get_parameter_source(key) != click.core.ParameterSource.COMMANDLINE and key in saved:
                options[key] = saved[key]
            saved[key] = options[key]
        options["data_file"] = options["data_file"] or saved.get("data_file")
        state["commands"].append(command_line(ctx))
    elif (out / STATE_FILE).exists() or (out / CHECKPOINT_DIR).exists():
        raise MultinnError(f"{out} already holds a training run; pass --resume to continue it, or choose another --out")
    else:
        state = new_state(options, command_line(ctx))
    quiet_tensorflow(tensorflow=True)
    from multinn.distribute import chief_directory, get_strategy, replica_batch_size

    strategy = get_strategy(options["strategy"])  # first: a multi-worker strategy must precede other TensorFlow work
    replica_batch_size(options["batch_size"], strategy)
    try:
        with chief_directory(out, strategy) as write_dir:  # non-chief workers write to a deleted temporary directory
            _train(ctx, options, state, out, write_dir, strategy, err)
    except KeyboardInterrupt:
        done = state["completed_epochs"]
        err.print(
            f"interrupted: {out} holds {done} completed epoch(s); continue with: "
            f"multinn train --data {options['data']} --out {out} --resume"
        )
        raise SystemExit(130) from None


def _train(ctx: click.Context, options: dict, state: dict, run_dir: Path, out: Path, strategy, err) -> None:
    """Train in `strategy`, reading a resumed run from `run_dir` and writing to `out` (`run_dir` on the chief)."""
    quiet_tensorflow(tensorflow=True)
    from multinn.distribute import task_of

    splits = load_splits(options["data"], options["data_file"], options["spec"], options["max_pieces"], err)
    model = _build(options, state, splits["train"].spec, run_dir, out, strategy, err)
    if not state["completed_epochs"]:
        _pretrain(model, options, state, splits["train"], out, strategy, err)
    kind = f"{model.mode} in-frame" if model.in_frame else model.mode
    err.print(
        f"{kind} model, {options['generator']} generator, {model.count_params():,} parameters; "
        f"{options['data']}: {len(splits['train'])} train / {len(splits['valid'])} valid pieces"
    )
    _fit(model, options, state, splits, out, strategy, err)
    metadata, preset = _save_preset(model, options, state, splits, out, err)
    if out != run_dir:
        task_type, task_id = task_of(strategy)
        err.print(f"{task_type} {task_id} done; the chief writes the run to its --out")
        return
    _report(out, metadata, preset)


def _build(options: dict, state: dict, spec, run_dir: Path, out: Path, strategy, err):
    """The model of the run, in `strategy`'s scope: a resumed run's checkpoint, verified against
    `run_dir/state.json` (the resuming command is recorded in `out`), or a fresh model."""
    import keras

    from multinn.cli.run_state import RunStateError, verified_file, write_state

    completed = state["completed_epochs"]
    if not completed:
        if options["resume"]:
            err.print(f"resuming {run_dir}: no epoch was completed; training starts again from the saved options")
        with strategy.scope():
            return build_model(options, spec)
    import multinn.models  # noqa: F401  (registers the model classes that load_model looks up)

    record = state["checkpoint"]
    with strategy.scope():
        model = keras.saving.load_model(verified_file(run_dir, record))
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    if "optimizer_iterations" in record and steps != record["optimizer_iterations"]:
        raise RunStateError(
            f"{run_dir / record['file']}: its optimizer is at step {steps}, but {run_dir}/state.json records "
            f"{record['optimizer_iterations']}; the run cannot be resumed from it (train into a new --out)"
        )
    if out != run_dir and state["best"]:  # a non-chief worker reads its own copy
        (out / state["best"]["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(verified_file(run_dir, state["best"]), out / state["best"]["file"])
    model.spec.check_compatible(spec, what=f"data ({options['data']})")
    err.print(f"resuming {run_dir} after epoch {completed} (optimizer step {steps})")
    write_state(out, state)  # the resuming command joins the run's history
    return model


def _pretrain(model, options: dict, state: dict, train, out: Path, strategy, err) -> None:
    """Record the fresh run in `out`, then pre-train the model's DBN encoders and RBM generators
    (what `--encoder`/`--generator` ask for) on the train split, for `--pretrain-epochs`."""
    import tensorflow as tf

    from multinn.cli.run_state import write_state

    # Pre-training runs on one device: under a strategy, on a copy built outside it that starts
    # from the model's initial weights (the same on every worker), and is copied back.
    trainee = model
    if strategy is not tf.distribute.get_strategy():
        trainee = build_model(options, train.spec)
        trainee.set_weights(model.get_weights())
    out.mkdir(parents=True, exist_ok=True)
    write_state(out, state)
    if options["pretrain_epochs"] and (options["encoder"] == "dbn" or options["generator"] == "rbm"):
        err.print(f"pre-training ({options['pretrain_epochs']} epochs per stage)")
    with contextlib.redirect_stdout(sys.stderr):  # Keras prints pre-training progress on stdout
        pretrain_data = pretraining_data(train, options["seed"])
        trainee.pretrain_encoders(pretrain_data, epochs=options["pretrain_epochs"])
        trainee.pretrain_generators(pretrain_data, epochs=options["pretrain_epochs"])
    if trainee is not model:
        model.set_weights(trainee.get_weights())


def _fit(model, options: dict, state: dict, splits: dict, out: Path, strategy, err) -> None:
    """`model.fit` on the train split, validated on the valid split, from the epoch after the last
    completed one to `--epochs`, committing the run after every epoch (`RunCheckpoint`)."""
    import keras

    from multinn.callbacks import MidiSamples, ResumableEarlyStopping, RichProgress, RunCheckpoint
    from multinn.cli.run_state import best_monitor, best_value
    from multinn.data import make_tf_dataset
    from multinn.distribute import with_auto_shard_policy

    completed = state["completed_epochs"]
    crop = options["crop_beats"]
    crop = DEFAULT_CROP_BEATS.get(options["data"], 16) if crop is None else (crop or None)
    batch = options["batch_size"]
    steps_per_epoch = None
    pipeline = dict(crop_beats=crop, transpose=options["transpose"], seed=options["seed"] + completed)
    if input_sharding(options["input_sharding"], options["data"], strategy) == "files":
        train_ds = per_worker_files(splits["train"], batch, pipeline, strategy, err)
        steps_per_epoch = math.ceil(len(splits["train"]) / batch)  # the workers' files hold different numbers
    else:
        # Every worker builds the same seeded global batches and keeps its replicas' share.
        train_ds = with_auto_shard_policy(make_tf_dataset(splits["train"], batch, **pipeline))
    valid_ds = with_auto_shard_policy(make_tf_dataset(splits["valid"], batch, shuffle=False))
    epochs = options["epochs"]
    best, monitor = state["best"], model.monitor
    if best is not None and best_value(best, monitor) is None:
        err.print(f"the best epoch so far was chosen on {best_monitor(best)}; from now on on {monitor}")
        best = None
    early = ResumableEarlyStopping(
        options["patience"],
        best_value(best, monitor),
        state["wait"] if best else 0,
        best["epoch"] - 1 if best else 0,
        monitor=monitor,
    )
    callbacks = [
        RichProgress(err, epochs, math.ceil(len(splits["train"]) / batch)),
        keras.callbacks.TensorBoard(log_dir=str(out / "logs")),
        early,
        MidiSamples(out, options["sample_every"], 4 * splits["train"].spec.steps_per_bar),
        RunCheckpoint(out, state, early),
    ]
    if state["stopped_early"]:
        err.print(f"the run stopped early after epoch {completed}; nothing left to train")
    elif completed >= epochs:
        err.print(f"{completed} epochs already done (--epochs {epochs}); nothing left to train")
    else:
        model.fit(
            train_ds,
            validation_data=valid_ds,
            epochs=epochs,
            initial_epoch=completed,
            callbacks=callbacks,
            shuffle=False,
            steps_per_epoch=steps_per_epoch,
            verbose=0,
        )


def _save_preset(model, options: dict, state: dict, splits: dict, out: Path, err) -> tuple[dict, Path]:
    """Evaluate the best weights on the valid and test splits, record the metrics in the run state
    and write `out/preset`; returns the preset's metadata and directory."""
    from multinn.cli.run_state import verified_file, write_state
    from multinn.presets import save_preset

    if state["best"]:
        model.load_weights(verified_file(out, state["best"]))
    metrics = evaluate_splits(model, splits, ("valid", "test"), options["batch_size"], err)
    state["metrics"] = metrics
    write_state(out, state)
    opts = state["options"]
    metadata = {
        "dataset": options["data"],
        "data_file": Path(options["data_file"]).name if options["data_file"] else None,
        "split": "train",
        "validation": f"valid split, whole pieces; early stopping on {model.monitor} (patience {options['patience']})",
        "command": state["commands"][0],
        "commands": state["commands"],
        "epochs": state["completed_epochs"],
        "best_epoch": state["best"]["epoch"] if state["best"] else None,
        "stopped_early": state["stopped_early"],
        "training_seconds": round(state["training_seconds"], 1),
        "options": {k: opts.get(k) for k in (*RUN_OPTIONS, *ADJUSTABLE_OPTIONS)},
        "metrics": metrics,
    }
    return metadata, save_preset(model, out / "preset", metadata)


def _report(out: Path, metadata: dict, preset: Path) -> None:
    """The run's table on stdout: NLL and frame F1 of each evaluated split, and where the preset is."""
    from rich.table import Table

    table = Table(title=f"{out}: {metadata['epochs']} epochs (best {metadata['best_epoch']})")
    table.add_column("split")
    for key in ("nll", "frame_f1"):
        table.add_column(key, justify="right")
    for split, logs in metadata["metrics"].items():
        table.add_row(split, *(f"{logs[k]:.4f}" if k in logs else "-" for k in ("nll", "frame_f1")))
    console = stdout_console()
    console.print(table)
    console.print(f"preset written to {preset}  (multinn sample --model {preset})")
