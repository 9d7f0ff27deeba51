"""`dora train sft|dpo|eval` for real, through the CLI, on a tiny random Llama the test builds (CPU,
a few steps each): the loss on a repeated example falls, DPO's reward margin grows, a run resumes
from its last checkpoint, the merged folder answers a turn in DORA's transformers backend, the eval
writes both models' replies side by side, and a bad dataset is one clear error naming the file and
line. Nothing here mocks TRL, PEFT or transformers; skipped without the train extra."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dora.cli import app
from tests.tiny_lm import CHAT_TEMPLATE, build_tiny_llama

for _lib in ("trl", "peft", "datasets", "accelerate"):
    pytest.importorskip(_lib, reason="the train extra is not installed (pip install -e '.[train]')")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

WORDS = ["привет", "как", "дела", "я", "ты", "кот", "мяу", "хорошо", "плохо", "спасибо", "у", "меня"]
WORDS += ["всё", "и", "нет", "да", "дом", "работа"]
SYSTEM = {"role": "system", "content": "ты кот"}
REPEATED = {
    "messages": [
        SYSTEM,
        {"role": "user", "content": "привет как дела"},
        {"role": "assistant", "content": "мяу мяу у меня всё хорошо спасибо"},
    ]
}
OTHER = {
    "messages": [
        SYSTEM,
        {"role": "user", "content": "ты дома"},
        {"role": "assistant", "content": "да я дома"},
        {"role": "user", "content": "как работа"},
        {"role": "assistant", "content": "нет работа плохо"},
    ]
}
PAIR = {
    "prompt": [SYSTEM, {"role": "user", "content": "привет как дела"}],
    "chosen": [{"role": "assistant", "content": "мяу у меня всё хорошо"}],
    "rejected": [{"role": "assistant", "content": "нет плохо работа работа"}],
}
FAST = ["--lora-r", "8", "--batch-size", "4", "--lr", "0.02", "--save-steps", "100", "--json"]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("base") / "tiny-llama", WORDS, hidden=48)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixed dataset format; the repeated example is also the SFT eval set, so the eval loss
    before and after is the loss on it."""
    folder = tmp_path_factory.mktemp("data")
    write_jsonl(folder / "sft_train.jsonl", [REPEATED] * 6 + [OTHER] * 2)
    write_jsonl(folder / "sft_eval.jsonl", [REPEATED, OTHER])
    write_jsonl(folder / "dpo_train.jsonl", [PAIR] * 8)
    write_jsonl(folder / "dpo_eval.jsonl", [PAIR])
    return folder


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, ["train", *args])
    return result


def report(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sft_run(base: Path, data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """3 steps, a refused restart over them, then --resume to step 5 with --merge."""
    out = tmp_path_factory.mktemp("sft") / "run"
    common = ["sft", "--base", str(base), "--data", str(data), "--out", str(out), *FAST]
    first = report(cli(*common, "--max-steps", "3"))
    again = cli(*common, "--max-steps", "3")
    resumed = report(cli(*common, "--max-steps", "5", "--resume", "--merge"))
    return {"out": out, "first": first, "again": again, "resumed": resumed}


def test_sft_lowers_the_loss_on_the_repeated_example(sft_run: dict[str, Any]) -> None:
    first = sft_run["first"]
    assert first["steps"] == 3 and first["device"] == "cpu"
    assert first["eval_after"]["loss"] < first["eval_before"]["loss"] - 0.05, first
    assert (sft_run["out"] / "checkpoint-3").is_dir()
    assert (sft_run["out"] / "adapter_config.json").is_file()


def test_sft_resumes_from_the_last_checkpoint(sft_run: dict[str, Any]) -> None:
    again = sft_run["again"]
    assert again.exit_code == 1 and "--resume" in again.output and "checkpoint-3" in again.output
    resumed = sft_run["resumed"]
    assert resumed["resumed_from"].endswith("checkpoint-3")
    assert resumed["steps"] == 5  # the step count went on from 3, it did not start again
    state = json.loads((sft_run["out"] / "checkpoint-5" / "trainer_state.json").read_text())
    assert state["global_step"] == 5
    # it went on from the checkpoint's weights: below where the first 3 steps left the loss
    assert resumed["eval_after"]["loss"] < sft_run["first"]["eval_after"]["loss"], (sft_run["first"], resumed)


def test_merged_model_answers_in_the_transformers_backend(sft_run: dict[str, Any], tmp_path: Path) -> None:
    from langchain_core.messages import HumanMessage, SystemMessage

    from agent.llm.hf import TransformersChatModel
    from dora.config import Settings
    from dora.wiring.llm import build_llm

    merged = Path(sft_run["resumed"]["merged"])
    assert merged == sft_run["out"] / "merged"
    assert not (merged / "adapter_config.json").exists()  # plain weights: no PEFT needed to serve it
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(merged).chat_template == CHAT_TEMPLATE  # kept for serving
    settings = Settings(data_dir=tmp_path, llm="transformers", llm_model=str(merged))
    model = build_llm(settings, "chat")
    assert isinstance(model, TransformersChatModel)
    model.device, model.temperature, model.max_tokens = "cpu", 0.0, 8
    answer = model.invoke([SystemMessage("ты кот"), HumanMessage("привет как дела")])
    assert isinstance(answer.content, str) and answer.content.strip(), answer
    assert "мяу" in answer.content  # what it was tuned to say


def test_dpo_moves_the_margin_toward_the_chosen_reply(base: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "dpo"
    done = report(
        cli("dpo", "--base", str(base), "--data", str(data), "--out", str(out), *FAST, "--max-steps", "4")
    )
    before, after = done["eval_before"], done["eval_after"]
    assert abs(before["rewards/margins"]) < 1e-6  # the fresh adapter is the base
    assert after["rewards/margins"] > 0.05, done
    assert after["loss"] < before["loss"], done
    assert done["steps"] == 4 and (out / "checkpoint-4").is_dir()


def test_eval_writes_both_models_replies_side_by_side(
    sft_run: dict[str, Any], data: Path, tmp_path: Path
) -> None:
    file = tmp_path / "side-by-side.md"
    result = cli(
        "eval", "--model", str(sft_run["out"]), "--data", str(data), "--n", "2", "--out", str(file), "--json"
    )
    found = report(result)
    assert found["sft"]["tuned"]["loss"] < found["sft"]["base"]["loss"]
    assert found["dpo"] is not None and "rewards/margins" in found["dpo"]
    assert [s["user"] for s in found["samples"]] == ["привет как дела", "как работа"]
    text = file.read_text(encoding="utf-8")
    assert text.count("**Base:**") == 2 and text.count("**Tuned:**") == 2
    assert "> мяу мяу у меня всё хорошо спасибо" in text  # the reference reply
    for sample in found["samples"]:
        assert f"> {sample['tuned']}" in text or not sample["tuned"]
    assert "мяу" in found["samples"][0]["tuned"]
    # the merged folder finds its base in the dora-train.json the run left beside it
    merged = report(
        cli("eval", "--model", str(sft_run["out"] / "merged"), "--data", str(data), "--n", "1", "--json")
    )
    assert merged["base"] == found["base"] and merged["samples"][0]["tuned"] == found["samples"][0]["tuned"]
    assert Path(merged["out"]) == sft_run["out"] / "merged" / "dora-eval.md"


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        ("sft_train.jsonl", '{"messages": [}\n', "sft_train.jsonl line 1 is not valid JSON"),
        (
            "sft_train.jsonl",
            json.dumps(REPEATED) + "\n" + json.dumps({"messages": REPEATED["messages"][:2]}) + "\n",
            'sft_train.jsonl line 2: "messages" must end with an assistant message',
        ),
        (
            "sft_train.jsonl",
            json.dumps({"messages": [{"role": "bot", "content": "x"}]}) + "\n",
            "line 1: \"messages\"[0] has role 'bot'",
        ),
        ("sft_train.jsonl", "\n", "sft_train.jsonl has no examples"),
        ("sft_eval.jsonl", "[1, 2]\n", "sft_eval.jsonl line 1: is not a JSON object"),
    ],
)
def test_a_bad_dataset_line_is_one_clear_error(
    base: Path, data: Path, tmp_path: Path, file: str, content: str, expected: str
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("sft_train.jsonl", "sft_eval.jsonl"):
        (bad / name).write_text((data / name).read_text(encoding="utf-8"), encoding="utf-8")
    (bad / file).write_text(content, encoding="utf-8")
    result = cli(
        "sft", "--base", str(base), "--data", str(bad), "--out", str(tmp_path / "o"), "--max-steps", "1"
    )
    assert result.exit_code == 1
    assert expected in " ".join(result.output.split()), result.output
    assert str(bad) in result.output.replace("\n", "") and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()  # refused before anything was loaded or written


def test_missing_inputs_name_the_fix(base: Path, data: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "o")
    no_base = cli("sft", "--base", str(tmp_path / "nope"), "--data", str(data), "--out", out)
    assert no_base.exit_code == 1 and "base model folder" in no_base.output and "nope" in no_base.output
    empty = tmp_path / "empty"
    empty.mkdir()
    no_file = cli("dpo", "--base", str(base), "--data", str(empty), "--out", out)
    assert no_file.exit_code == 1 and "dpo_train.jsonl does not exist" in " ".join(no_file.output.split())
    assert "dora train data" in no_file.output
    no_resume = cli("sft", "--base", str(base), "--data", str(data), "--out", out, "--resume")
    assert no_resume.exit_code == 1 and "no checkpoint" in no_resume.output
    unknown = cli("eval", "--model", str(base), "--data", str(data))  # a plain folder: which base was it?
    assert unknown.exit_code == 1 and "pass --base" in unknown.output
    no_eval = cli("eval", "--model", str(base), "--base", str(base), "--data", str(empty))
    assert no_eval.exit_code == 1 and "sft_eval.jsonl does not exist" in " ".join(no_eval.output.split())


def test_dpo_pairs_are_checked_too(tmp_path: Path) -> None:
    from dora.train.data_io import read_dpo
    from dora.train.errors import TrainError

    same = {**PAIR, "rejected": PAIR["chosen"]}
    ends_with_reply = {**PAIR, "prompt": [*PAIR["prompt"], {"role": "assistant", "content": "мяу"}]}
    for row, expected in (
        (same, 'line 2: "chosen" and "rejected" are the same text'),
        (ends_with_reply, 'line 2: "prompt" must end with a user message'),
        ({**PAIR, "chosen": []}, 'line 2: "chosen" must be a non-empty list'),
    ):
        path = write_jsonl(tmp_path / "dpo_train.jsonl", [PAIR, row])
        with pytest.raises(TrainError, match=r"dpo_train\.jsonl") as caught:
            read_dpo(path)
        assert expected in str(caught.value)
    assert len(read_dpo(write_jsonl(tmp_path / "ok.jsonl", [PAIR, PAIR]))) == 2


def test_examples_past_max_length_are_counted(base: Path, data: Path, tmp_path: Path) -> None:
    args = ["sft", "--base", str(base), "--data", str(data), "--out", str(tmp_path / "o"), *FAST]
    result = cli(*args, "--max-steps", "1", "--max-length", "12")
    assert result.exit_code == 0, result.output
    assert "2 of 8 training examples dropped" in " ".join(result.output.split())


def test_without_the_extra_the_error_names_the_install_line(
    base: Path, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "trl", None)  # `import trl` now fails as if it were not installed
    result = cli(
        "sft", "--base", str(base), "--data", str(data), "--out", str(tmp_path / "o"), "--max-steps", "1"
    )
    assert result.exit_code == 1
    assert "pip install -e '.[train]'" in result.output and "Traceback" not in result.output


def test_dora_cli_does_not_import_the_training_libraries() -> None:
    """`dora --help` and every other command stay as fast as before: the libraries load in `dora train`."""
    import subprocess
    import sys

    heavy = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")
    code = f"import sys, dora.cli; print([m for m in {heavy!r} if m in sys.modules])"
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert found.stdout.strip() == "[]", found.stdout


@pytest.mark.gpu
def test_sft_on_the_gpu(base: Path, data: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    out = tmp_path / "gpu"
    done = report(
        cli(
            "sft",
            "--base",
            str(base),
            "--data",
            str(data),
            "--out",
            str(out),
            *FAST,
            "--max-steps",
            "5",
            "--merge",
        )
    )
    assert done["device"] == "cuda" and done["steps"] == 5
    assert done["eval_after"]["loss"] < done["eval_before"]["loss"]
    assert (out / "merged" / "config.json").is_file()
