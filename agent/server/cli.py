"""`hopedit serve`: the OpenAI-compatible API and the facts API on one uvicorn server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from editor.prompt_lookup import PromptLookupConfig


def serve(
    host: Annotated[
        str, typer.Option(help="interface to bind; loopback unless you mean to expose it")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    api_key: Annotated[
        str | None, typer.Option(envvar="HOPEDIT_API_KEY", help="require 'Authorization: Bearer KEY' on /v1")
    ] = None,
    store: Annotated[Path | None, typer.Option(envvar="HOPEDIT_HOME", help="memory directory")] = None,
    chroma_url: Annotated[
        str | None, typer.Option(help="use a Chroma server instead of the local store")
    ] = None,
    model: Annotated[str | None, typer.Option(help="base model (id, HF directory or GGUF file)")] = None,
    prefixes: Annotated[
        Path | None, typer.Option(help="trained InstructEd prefixes (default: the shipped ones)")
    ] = None,
    max_queue: Annotated[int, typer.Option(min=1, help="model-bound requests in flight before 429")] = 64,
    max_batch: Annotated[
        int, typer.Option(min=1, help="requests per model batch (1: no dynamic batching)")
    ] = 16,
    batch_wait_ms: Annotated[float, typer.Option(min=0.0, help="how long a batch waits to fill")] = 10.0,
    draft_tokens: Annotated[
        int,
        typer.Option(
            min=0, help="prompt-lookup tokens checked per pass when one greedy request decodes (0: off)"
        ),
    ] = PromptLookupConfig.draft_tokens,
    max_body_bytes: Annotated[int, typer.Option(min=1024, help="larger request bodies get 413")] = 4 << 20,
    max_facts_per_request: Annotated[
        int, typer.Option(min=1, help="more facts in one write or upload get 413")
    ] = 1000,
) -> None:
    """Serve the QA pipelines, the base model and the fact memory over an OpenAI-compatible HTTP API."""
    import uvicorn

    from agent.server.app import create_app
    from agent.server.config import ServerConfig

    config = ServerConfig(
        host=host,
        port=port,
        api_key=api_key,
        store=store,
        chroma_url=chroma_url,
        model=model,
        prefixes=prefixes,
        max_queue=max_queue,
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        prompt_lookup=PromptLookupConfig(draft_tokens=draft_tokens),
        max_body_bytes=max_body_bytes,
        max_facts_per_request=max_facts_per_request,
    )
    if chroma_url is None:
        # Refuse before loading the model when another process holds the store; the lock is then this
        # process's (the memory re-enters it when it opens).
        from memory.core import default_store_dir
        from memory.lock import StoreInUseError, StoreLock

        try:
            StoreLock(store or default_store_dir(), "hopedit serve").acquire()
        except StoreInUseError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
    typer.echo(
        f"hopedit serve: http://{host}:{port}/v1 (loading the model; GET /health answers 200 when ready)"
    )
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
