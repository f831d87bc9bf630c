"""The one model engine: lazy loads, one copy of the base weights shared by the editor and the chat
model, agents built once per method; and the packages' import direction (memory <- editor <- agent <-
evals), which the CLI root used to break."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers_editor import tiny_llama_dir

from agent.engine import Engine, EngineConfig
from editor.instructed import InstructEdConfig, InstructEdModel
from editor.loading import load_base_model

ROOT = Path(__file__).resolve().parent.parent
# What each package may import from the others.
ALLOWED = {
    "memory": set(),
    "editor": {"memory"},
    "agent": {"memory", "editor"},
    "evals": {"memory", "editor", "agent"},
}


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny model and untrained prefixes for it (the engine's wiring does not need trained ones)."""
    model_dir = tiny_llama_dir(tmp_path_factory.mktemp("engine-model"))
    prefixes = tmp_path_factory.mktemp("engine-prefixes")
    loaded = load_base_model(str(model_dir))
    InstructEdModel(loaded.model, InstructEdConfig(layers=[1, 2])).save(prefixes)
    return model_dir, prefixes


def test_editor_and_chat_model_share_one_copy_of_the_weights(tiny_setup, tmp_path) -> None:
    model_dir, prefixes = tiny_setup
    engine = Engine(EngineConfig(model_spec=str(model_dir), prefixes=prefixes), memory=object())
    assert engine.loaded_llm is None  # nothing loads before it is needed
    chat_model = engine.chat_model()
    llm = engine.loaded_llm
    assert llm is not None and chat_model.llm is llm
    editor = engine.editor()
    assert editor.llm is llm and editor.model.base is llm.loaded.model
    assert engine.llm() is llm  # loaded once


def test_the_instructed_agent_checks_answers_with_the_engine_settings(tiny_setup) -> None:
    from agent.answer_check import AnswerCheckConfig

    model_dir, prefixes = tiny_setup
    settings = AnswerCheckConfig(min_copy_similarity=0.95)
    checked = Engine(EngineConfig(model_spec=str(model_dir), prefixes=prefixes, answer_check=settings))
    assert checked.build_agent("instructed", memory=object()).answer_check.config == settings
    unchecked = Engine(EngineConfig(model_spec=str(model_dir), prefixes=prefixes, answer_check=None))
    assert unchecked.build_agent("instructed", memory=object()).answer_check is None
    default = Engine(EngineConfig(model_spec=str(model_dir), prefixes=prefixes))
    assert default.build_agent("instructed", memory=object()).answer_check.config == AnswerCheckConfig()


def test_agents_are_built_once_per_method_and_fresh_per_memory(tiny_setup) -> None:
    model_dir, prefixes = tiny_setup
    engine = Engine(EngineConfig(model_spec=str(model_dir), prefixes=prefixes), memory=object())
    base = engine.agent("base")
    llm, chat_model = engine.loaded_llm, engine.loaded_chat_model
    assert engine.agent("base") is base
    other = engine.build_agent("ike", memory=object())
    assert other.memory is not engine.memory and engine.loaded_chat_model is chat_model
    assert engine.loaded_llm is llm
    instructed = engine.agent("instructed")
    assert instructed.editor.llm is engine.llm()


def test_bad_engine_options_are_named() -> None:
    with pytest.raises(ValueError, match="unknown method 'gpt'"):
        Engine(EngineConfig()).agent("gpt")
    with pytest.raises(ValueError, match="no memory"):
        Engine(EngineConfig()).agent("base")
    with pytest.raises(ValueError, match="llm_model names a model on a server: give llm_url"):
        EngineConfig(llm_model="x")


def test_missing_prefixes_fail_instead_of_falling_back(tiny_setup, tmp_path) -> None:
    model_dir, _ = tiny_setup
    engine = Engine(EngineConfig(model_spec=str(model_dir), prefixes=tmp_path / "none"), memory=object())
    with pytest.raises(FileNotFoundError, match="no trained prefixes"):
        engine.agent("instructed")


def _imported_packages(path: Path) -> set[str]:
    """Top-level hopedit packages a module imports, anywhere in it (lazy imports in functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


def test_no_package_imports_a_package_above_it() -> None:
    upward = [
        f"{path.relative_to(ROOT)} imports {sorted(bad)}"
        for package, allowed in ALLOWED.items()
        for path in sorted((ROOT / package).rglob("*.py"))
        if (bad := _imported_packages(path) - allowed - {package})
    ]
    assert upward == []


def test_the_base_model_checks_guessed_tokens_as_the_engine_says(tiny_setup) -> None:
    from editor.prompt_lookup import PromptLookupConfig

    model_dir, prefixes = tiny_setup
    default = Engine(EngineConfig(model_spec=str(model_dir), prefixes=prefixes))
    assert default.llm().lookup == PromptLookupConfig() and default.editor().llm.lookup.draft_tokens > 0
    off = Engine(
        EngineConfig(model_spec=str(model_dir), prefixes=prefixes, prompt_lookup=PromptLookupConfig(0))
    )
    assert off.editor().llm.lookup.draft_tokens == 0
    with pytest.raises(ValueError, match="draft_tokens must be 0 or more"):
        PromptLookupConfig(draft_tokens=-1)
