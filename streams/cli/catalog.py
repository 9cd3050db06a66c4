"""The catalog: name executables, record and withdraw corrections."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from schemas.settings import Settings
from sinks.kafka import client as kafka
from streams.cli.broker import on_kafka
from streams.cli.common import console, settings

catalog = typer.Typer(no_args_is_help=True, help="The product catalog: name executables, correct misclassifications.")


@catalog.command("fingerprint")
def fingerprint(
    explain: Annotated[bool, typer.Option(help="Add the reasoning behind each answer.")] = False,
    catalog_dir: Annotated[
        Path | None,
        typer.Option("--catalog", help="Catalog folder (default: the bundled one with local corrections)."),
    ] = None,
) -> None:
    """Name executables or SaaS apps: JSON lines in on stdin, one JSON line out per input.

    Input fields: exe_path and optionally publisher (the signer), product_name, company,
    file_description, bundle_id, version, sha256; or saas_app and url. Output: product, vendor,
    category (application, background or unknown), suite, edition, version_group, license_model,
    eol, shadow_it, rule, catalogued and more.
    """
    from streams.pipeline.name.fingerprint import build_matcher, fingerprint_lines, load_catalog
    from streams.runtime.catalog_source import merged_catalog

    loaded = load_catalog(catalog_dir) if catalog_dir else merged_catalog(settings().catalog.overrides_file)
    matcher = build_matcher(loaded)
    out = sys.stdout.buffer
    for line in fingerprint_lines(matcher, sys.stdin.buffer, explain=explain):
        out.write(line + b"\n")
    out.flush()


@catalog.command("correct")
def correct(
    reason: Annotated[str, typer.Option(help="Why: an auditor reads this.")],
    path: Annotated[str | None, typer.Option(help="The exact executable path (case-insensitive).")] = None,
    path_glob: Annotated[str | None, typer.Option(help="A glob on the path, e.g. `*/tools/acme*.exe`.")] = None,
    sha256: Annotated[str | None, typer.Option(help="The executable's SHA-256.")] = None,
    product: Annotated[str | None, typer.Option(help="The catalog product id it really is.")] = None,
    category: Annotated[str | None, typer.Option(help="Or a category: application, background, unknown.")] = None,
    publish: Annotated[
        bool, typer.Option(help="Send it to the corrections topic, for every worker, instead of the local file.")
    ] = False,
) -> None:
    """Record a misclassification: it becomes a catalog override that running workers pick up.

    Without --publish it goes to the local overrides file, read by workers on this machine. With
    --publish it goes to the compacted corrections topic, read by every worker of the cluster; a
    newer correction for the same match replaces it, and `catalog withdraw` withdraws it.
    """
    from pydantic import ValidationError

    from schemas.catalog import Override
    from streams.runtime.catalog_source import append_override, check_override, correction_message

    config = settings()
    try:
        override = Override.model_validate(
            {"path": path, "path_glob": path_glob, "sha256": sha256, "product": product, "category": category,
             "reason": reason}
        )  # fmt: skip
        check_override(override)
    except ValidationError as exc:
        console.print(f"[red]not recorded: {exc.errors(include_input=False)[0]['msg']}[/red]")
        raise typer.Exit(1) from exc
    if publish:
        key, value = correction_message(override)
        version = _send_correction(config, key, value)
        console.print(f"published {key.decode()} to {config.catalog.topic}; workers without local corrections "
                      f"now use {version}")  # fmt: skip
        return
    merged = append_override(config.catalog.overrides_file, override)
    console.print(f"recorded in {config.catalog.overrides_file}; catalog is now {merged.version}")


@catalog.command("withdraw")
def withdraw(
    path: Annotated[str | None, typer.Option(help="The exact path the correction matches.")] = None,
    path_glob: Annotated[str | None, typer.Option(help="The glob the correction matches.")] = None,
    sha256: Annotated[str | None, typer.Option(help="The SHA-256 the correction matches.")] = None,
) -> None:
    """Withdraw a published correction: a tombstone under its match on the corrections topic.

    Local corrections are withdrawn by editing the overrides file.
    """
    from streams.runtime.catalog_source import match_key

    config = settings()
    try:
        key = match_key(sha256=sha256, path=path, path_glob=path_glob)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    version = _send_correction(config, key.encode(), None)
    console.print(f"withdrew {key} on {config.catalog.topic}; workers without local corrections now use {version}")


def _send_correction(config: Settings, key: bytes, value: bytes | None) -> str:
    """Publish one correction record and return the catalog version the topic now amounts to."""
    from streams.runtime.catalog_source import topic_catalog_version

    topic = config.catalog.topic
    on_kafka(config, kafka.ensure_topics(config.kafka, [kafka.catalog_topic(topic, config.kafka)]))
    on_kafka(config, kafka.produce(config.kafka, topic, [(key, value)]))
    return topic_catalog_version(on_kafka(config, kafka.read_to_end(config.kafka, topic)), topic)
