"""Rich rendering of answers, facts and agent traces, shared by `ask`, `chat` and `demo`.

One module so the three commands show the same thing the same way, and so the JSON form of an
answer (what scripts and tests read) is built in exactly one place. Every name, sentence and model
output shown goes through `memory.display.printable`: a fact can hold terminal escape sequences, and
a single 100 KB word takes rich minutes to wrap, so long text is cut to a limit first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent.base import Answer, Step
from memory.display import printable
from memory.facts import Fact, ScoredFact

SHORT_STEP_CHARS = 90  # a short trace shows one line per step; /why shows them whole
NAME_CHARS = 200  # a subject, relation or object in a table
SENTENCE_CHARS = 400  # a fact's sentence on one line (/undo, /edit)
TEXT_CHARS = 4000  # an answer or a step of a full trace


def shown(text: str, limit: int = SENTENCE_CHARS) -> Text:
    """Text safe to print: control characters escaped, cut to `limit`, never read as rich markup."""
    return Text(printable(text, limit=limit))


def facts_table(facts: Sequence[Fact | ScoredFact], title: str = "facts", show_kind: bool = False) -> Table:
    """A table of facts; scores are shown when the facts carry them."""
    scored = any(isinstance(item, ScoredFact) for item in facts)
    table = Table(title=shown(title, NAME_CHARS), title_justify="left", show_lines=False, expand=False)
    table.add_column("#", justify="right", style="dim")
    if scored:
        table.add_column("score", justify="right")
    table.add_column("subject", style="cyan")
    table.add_column("relation")
    table.add_column("object", style="green")
    if show_kind:
        table.add_column("kind", style="dim")
    for index, item in enumerate(facts, start=1):
        fact = item.fact if isinstance(item, ScoredFact) else item
        row: list[str | Text] = [str(index)]
        if scored:
            row.append(f"{item.score:.2f}" if isinstance(item, ScoredFact) else "")
        row += [shown(name, NAME_CHARS) for name in (fact.subject, fact.relation, fact.object)]
        if show_kind:
            row.append(fact.kind)
        table.add_row(*row)
    return table


def _one_line(text: str, limit: int) -> Text:
    return shown(" ".join(text.split()), limit)


def steps_table(steps: Sequence[Step], full: bool = False, names: Mapping[str, str] | None = None) -> Table:
    """The agent's trace: a line per step, or every step with its data when `full`.

    `names` maps fact ids to sentences, so a full trace says which fact a step used, not just its id.
    """
    names = names or {}
    table = Table(title="trace" if full else "trace (/why for details)", title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("step", style="magenta")
    table.add_column("text", overflow="fold")
    for index, step in enumerate(steps, start=1):
        if full:
            body = shown(step.text, TEXT_CHARS)
            for key, value in _named(step.data, names).items():
                body.append(f"\n  {printable(str(key), NAME_CHARS)}: ", style="dim")
                body.append(printable(_format_value(value, names), TEXT_CHARS))
            table.add_row(str(index), shown(step.kind, NAME_CHARS), body)
        else:
            table.add_row(str(index), shown(step.kind, NAME_CHARS), _one_line(step.text, SHORT_STEP_CHARS))
    return table


def _format_value(value: Any, names: Mapping[str, str]) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list | tuple):
        if value and all(isinstance(item, dict) for item in value):  # e.g. retrieved facts: one per line
            return "".join(f"\n    - {_format_value(item, names)}" for item in value)
        return "; ".join(_format_value(item, names) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={_format_value(item, names)}" for key, item in _named(value, names).items())
    return str(value)


def _named(record: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """A trace record with its fact id replaced by the fact's sentence, when the sentence is known."""
    id_key = next((key for key in ("fact_id", "id") if key in record), None)
    if id_key is None:
        return record
    sentence = record.get("sentence") or names.get(record[id_key])
    if not sentence:
        return record
    rest = {key: item for key, item in record.items() if key not in (id_key, "sentence")}
    return {"fact": sentence, **rest}


def answer_panel(answer: Answer) -> Panel:
    text = printable(answer.text.strip(), TEXT_CHARS) or "(no answer)"
    return Panel(Text(text, style="bold"), title="answer", title_align="left", expand=False)


def answer_meta(answer: Answer, method: str) -> Text:
    seconds = answer.timings.get("total", sum(answer.timings.values()))
    return Text(f"{method} · {answer.model_calls} model call(s) · {seconds:.1f} s", style="dim")


def render_answer(console: Console, answer: Answer, method: str, trace: str = "short") -> None:
    """Answer, then the facts it used, then the trace ("short", "full" or "none")."""
    parts: list[Any] = [answer_panel(answer), answer_meta(answer, method)]
    if answer.facts_used:
        parts.append(facts_table(answer.facts_used, title="facts used"))
    else:
        parts.append(Text("no facts used (answered by the model alone)", style="dim"))
    if trace != "none" and answer.steps:
        parts.append(steps_table(answer.steps, full=trace == "full"))
    console.print(Group(*parts))


def answer_json(question: str, method: str, answer: Answer, scores: dict[str, float]) -> dict[str, Any]:
    """The machine-readable answer: every field of the trace, facts with their relevance scores."""
    return {
        "question": question,
        "method": method,
        "answer": answer.text,
        "facts_used": [
            {
                "id": fact.id,
                "subject": fact.subject,
                "relation": fact.relation,
                "object": fact.object,
                "sentence": fact.sentence,
                "kind": fact.kind,
                "score": scores.get(fact.id),
            }
            for fact in answer.facts_used
        ],
        "steps": [{"kind": step.kind, "text": step.text, "data": step.data} for step in answer.steps],
        "timings": answer.timings,
        "model_calls": answer.model_calls,
    }
